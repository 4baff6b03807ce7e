// LGMA dashboard: plain JS + SVG, no library, no build step. Polls the API and redraws.
// Token: `#token=...` in the URL (kept out of server logs), or typed in the header form; kept in
// sessionStorage only. Every figure is written into an element with a data-test attribute, so the
// headless-browser test can compare it with the API.
(function () {
  "use strict";
  var params = new URLSearchParams(location.hash.slice(1));
  var token = params.get("token") || sessionStorage.getItem("lgma-token") || "";
  var interval = Math.max(2, Number(params.get("interval")) || 15) * 1000;
  var REGION_COLOURS = ["#1b9e77", "#d95f02", "#7570b3", "#e7298a", "#66a61e", "#e6ab02", "#a6761d", "#666666", "#1f78b4"];
  var councils = [];
  var TREND_MONTHS = 24;

  function el(tag, attrs, text) {
    var e = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) { e.setAttribute(k, attrs[k]); });
    if (text !== undefined && text !== null) e.textContent = String(text);
    return e;
  }
  function svg(tag, attrs) {
    var e = document.createElementNS("http://www.w3.org/2000/svg", tag);
    Object.keys(attrs || {}).forEach(function (k) { e.setAttribute(k, attrs[k]); });
    return e;
  }
  function api(path) {
    var headers = token ? { Authorization: "Bearer " + token } : {};
    return fetch(path, { headers: headers }).then(function (r) {
      if (!r.ok) throw new Error(path + ": HTTP " + r.status);
      return r.json();
    });
  }
  // "YYYY-MM" of the month n months before the current one (UTC).
  function monthsAgo(n) {
    var d = new Date();
    d.setUTCDate(1);
    d.setUTCMonth(d.getUTCMonth() - n);
    return d.toISOString().slice(0, 7);
  }
  function pct(x) { return x === null || x === undefined ? "–" : (x * 100).toFixed(1) + "%"; }
  function num(x) { return x === null || x === undefined ? "–" : String(x); }
  function name(code) {
    var c = councils.find(function (c) { return c.la_code === code; });
    return c ? c.official_name : code;
  }
  // Per-council rows in the councils' reference order (as the freshness table and the indicator
  // selector list them), whatever order the API returned; unknown codes last.
  function inCouncilOrder(rows) {
    var rank = function (code) {
      var i = councils.findIndex(function (c) { return c.la_code === code; });
      return i < 0 ? councils.length : i;
    };
    return rows.slice().sort(function (a, b) { return rank(a.la_code) - rank(b.la_code); });
  }
  function eur(x) {
    return x === null || x === undefined ? "–" : "€" + Math.round(Number(x)).toLocaleString("en-IE");
  }
  function fixed(x, digits) { return x === null || x === undefined ? "–" : Number(x).toFixed(digits); }
  function fill(tbody, rows) {
    tbody.textContent = "";
    rows.forEach(function (r) { tbody.appendChild(r); });
  }

  function freshness(data) {
    var byCouncil = {};
    data.data.forEach(function (r) {
      var a = byCouncil[r.la_code] || (byCouncil[r.la_code] = { events: 0, quarantined: 0, accepted: 0, last: "", age: Infinity });
      a.events += r.events_total; a.quarantined += r.quarantined; a.accepted += r.accepted;
      if (r.last_ingested_at > a.last) a.last = r.last_ingested_at;
      a.age = Math.min(a.age, r.seconds_since_last_ingest);
    });
    fill(document.querySelector("#freshness tbody"), councils.map(function (c) {
      var a = byCouncil[c.la_code];
      var state = !a ? "never" : a.age > 3600 ? "late" : (a.accepted / a.events) < 0.95 ? "failing" : "ok";
      var tr = el("tr", { class: state, "data-la": c.la_code });
      tr.appendChild(el("td", {}, c.official_name));
      tr.appendChild(el("td", { class: "num", "data-test": "fresh-events-" + c.la_code }, a ? a.events : 0));
      tr.appendChild(el("td", { class: "num", "data-test": "fresh-quarantined-" + c.la_code }, a ? a.quarantined : 0));
      tr.appendChild(el("td", { class: "num" }, a ? pct(a.accepted / a.events) : "–"));
      tr.appendChild(el("td", {}, a ? a.last : "never"));
      tr.appendChild(el("td", { class: "state", "data-test": "fresh-state-" + c.la_code }, state));
      return tr;
    }));
  }

  // Reconciliation per topic (partitions summed), with the missing ranges from the loss view.
  function reconcile(report, loss) {
    var ranges = {};
    loss.data.forEach(function (r) { ranges[r.topic] = r.missing_ranges; });
    var byTopic = {};
    report.partitions.forEach(function (p) {
      var a = byTopic[p.topic] || (byTopic[p.topic] = { published: 0, stored: 0, quarantined: 0, lost: 0, unread: 0, doubled: 0, unaccounted: 0 });
      a.published += p.published; a.stored += p.stored; a.quarantined += p.quarantined;
      a.lost += p.lost + p.lost_unrecorded; a.unread += p.unread; a.doubled += p.doubled; a.unaccounted += p.unaccounted;
    });
    fill(document.querySelector("#reconcile tbody"), Object.keys(byTopic).sort().map(function (t) {
      var a = byTopic[t];
      var state = a.doubled || a.unaccounted ? "mismatch" : a.lost ? "loss" : a.unread ? "catching up" : "ok";
      var tr = el("tr", { class: state === "ok" ? "ok" : state === "catching up" ? "late" : "failing", "data-topic": t });
      // A line may break after the domain (a zero-width space), never inside a name.
      tr.appendChild(el("td", { title: t }, t.replace(/^lgma\./, "").replace(".", ".\u200b").replace(/-/g, "\u2011")));
      tr.appendChild(el("td", { class: "num", "data-test": "rec-published-" + t }, a.published));
      tr.appendChild(el("td", { class: "num" }, a.stored));
      tr.appendChild(el("td", { class: "num" }, a.quarantined));
      tr.appendChild(el("td", { class: "num", "data-test": "rec-lost-" + t }, a.lost));
      tr.appendChild(el("td", { class: "num" }, a.unread));
      tr.appendChild(el("td", { class: "num" }, a.doubled));
      tr.appendChild(el("td", { "data-test": "rec-ranges-" + t }, ranges[t] || ""));
      tr.appendChild(el("td", { class: "state", "data-test": "rec-state-" + t }, state));
      return tr;
    }));
    var t = report.total;
    var lost = t.lost + t.lost_unrecorded;
    var summary = document.getElementById("reconcile-summary");
    summary.dataset.state = lost || t.doubled || t.unaccounted ? "failing" : "ok";
    summary.textContent = t.published + " published = " + t.stored + " stored + " + t.quarantined + " quarantined + " +
      lost + " lost + " + t.unread + " unread" + (t.doubled ? "; " + t.doubled + " DOUBLED" : "") +
      (lost ? " — RECORDS LOST" : !t.published ? " — nothing published to these topics yet" :
        report.all_accounted ? " — every event accounted for" : "");
  }

  function trend(data) {
    var chart = document.getElementById("trend-chart");
    chart.textContent = "";
    var series = {};
    data.data.forEach(function (r) { (series[r.homeless_region] = series[r.homeless_region] || []).push(r); });
    var months = Array.from(new Set(data.data.map(function (r) { return r.month; }))).sort();
    // Rates, not head counts: Dublin's adults are ~10x any other region's, which flattened every
    // other line onto the axis; per 1,000 residents the regions are comparable.
    var rate = function (r) { return r.adults_per_1000 === null ? 0 : Number(r.adults_per_1000); };
    var max = Math.max.apply(null, [0.01].concat(data.data.map(rate)));
    var W = 640, H = 260, L = 40, B = 20;
    var x = function (m) { return L + (months.length < 2 ? 0 : months.indexOf(m) * (W - L - 120) / (months.length - 1)); };
    var y = function (v) { return H - B - v * (H - B - 10) / max; };
    chart.appendChild(svg("line", { x1: L, y1: H - B, x2: W - 120, y2: H - B, stroke: "#999" }));
    chart.appendChild(svg("line", { x1: L, y1: 10, x2: L, y2: H - B, stroke: "#999" }));
    var text = function (x0, y0, value, anchor) {
      var t = svg("text", { x: x0, y: y0, "font-size": 10, "text-anchor": anchor || "start" });
      t.textContent = value; chart.appendChild(t);
    };
    text(L - 4, 14, fixed(max, 2), "end");
    text(L - 4, H - B, "0", "end");
    text(L, H - 4, "adults per 1,000 residents", "start");
    if (months.length) {
      text(W - 120, H - 4, months[0].slice(0, 7) + " – " + months[months.length - 1].slice(0, 7), "end");
    }
    var rows = [];
    Object.keys(series).sort().forEach(function (region, i) {
      var pts = series[region].sort(function (a, b) { return a.month < b.month ? -1 : 1; });
      var colour = REGION_COLOURS[i % REGION_COLOURS.length];
      chart.appendChild(svg("polyline", {
        fill: "none", stroke: colour, "stroke-width": 2, "data-region": region,
        points: pts.map(function (p) { return x(p.month) + "," + y(rate(p)); }).join(" ")
      }));
      var t = svg("text", { x: W - 115, y: 14 + i * 13, fill: colour, "font-size": 11 }); t.textContent = region; chart.appendChild(t);
      var last = pts[pts.length - 1];
      var tr = el("tr", { "data-region": region });
      tr.appendChild(el("td", {}, region));
      tr.appendChild(el("td", { "data-test": "trend-month-" + region }, last.month.slice(0, 7)));
      tr.appendChild(el("td", { class: "num", "data-test": "trend-adults-" + region }, last.adults));
      tr.appendChild(el("td", { class: "num" }, fixed(last.adults_per_1000, 2)));
      rows.push(tr);
    });
    fill(document.querySelector("#trend-latest tbody"), rows);
  }

  function planning(data) {
    var chart = document.getElementById("planning-chart");
    chart.textContent = "";
    var ordered = inCouncilOrder(data.data);
    var rows = ordered.filter(function (r) { return r.median_decision_days !== null; });
    var max = Math.max.apply(null, [84].concat(rows.map(function (r) { return r.median_decision_days; })));
    // L: room for the longest council name (Dún Laoghaire-Rathdown County Council) left of its bar.
    var L = 215, W = 640, BAR = 14;
    chart.setAttribute("height", rows.length * (BAR + 2) + 24);
    var scale = function (d) { return d * (W - L - 10) / max; };
    rows.forEach(function (r, i) {
      var over = r.median_decision_days > r.target_days;
      chart.appendChild(svg("rect", { x: L, y: i * (BAR + 2), width: scale(r.median_decision_days), height: BAR, fill: over ? "#c0392b" : "#2e8b57", "data-la": r.la_code }));
      var t = svg("text", { x: 2, y: i * (BAR + 2) + 11, "font-size": 10 }); t.textContent = r.official_name || r.la_code; chart.appendChild(t);
    });
    var tx = L + scale(56);
    chart.appendChild(svg("line", { x1: tx, y1: 0, x2: tx, y2: rows.length * (BAR + 2), stroke: "#000", "stroke-dasharray": "4 2" }));
    var tl = svg("text", { x: tx + 3, y: rows.length * (BAR + 2) + 14, "font-size": 10 }); tl.textContent = "8-week target (56 days)"; chart.appendChild(tl);
    fill(document.querySelector("#planning tbody"), ordered.map(function (r) {
      var tr = el("tr", { "data-la": r.la_code });
      tr.appendChild(el("td", {}, r.official_name || name(r.la_code)));
      tr.appendChild(el("td", { class: "num", "data-test": "plan-decided-" + r.la_code }, r.decided));
      tr.appendChild(el("td", { class: "num", "data-test": "plan-median-" + r.la_code }, num(r.median_decision_days)));
      tr.appendChild(el("td", { class: "num", "data-test": "plan-within-" + r.la_code }, pct(r.within_statutory_share)));
      return tr;
    }));
  }

  function voids(data) {
    fill(document.querySelector("#voids tbody"), inCouncilOrder(data.data).map(function (r) {
      var tr = el("tr", { "data-la": r.la_code });
      tr.appendChild(el("td", {}, r.official_name || name(r.la_code)));
      tr.appendChild(el("td", { class: "num", "data-test": "voids-stock-" + r.la_code }, r.stock));
      tr.appendChild(el("td", { class: "num", "data-test": "voids-voids-" + r.la_code }, r.voids));
      tr.appendChild(el("td", { class: "num", "data-test": "voids-rate-" + r.la_code }, pct(r.void_rate)));
      tr.appendChild(el("td", { class: "num" }, fixed(r.avg_void_days, 1)));
      tr.appendChild(el("td", { class: "num" }, eur(r.avg_relet_cost_eur)));
      return tr;
    }));
  }

  // Council performance indicators: the chosen council against its region and the country, and the
  // recycling rate against the EU targets (dashed lines). Public, suppressed open data.
  var IND_LEVELS = ["council", "region", "country"];
  function indicatorValue(f, unit) {
    if (!f) return "–";
    if (f.suppressed) return "[c]";
    if (f.value === null || f.value === undefined) return "–";
    if (unit === "EUR") return "€" + Math.round(f.value).toLocaleString("en-IE");
    return f.value.toFixed(1) + (unit === "%" ? "%" : " " + unit);
  }
  function indicatorsPanel(data) {
    var byKey = {};
    data.data.forEach(function (f) { byKey[f.indicator + "/" + f.level] = f; });
    fill(document.querySelector("#indicators tbody"), data.indicators.map(function (d) {
      var council = byKey[d.code + "/council"];
      var out = council && council.value !== null && !council.suppressed &&
        (council.value < d.band[0] || council.value > d.band[1]);
      var tr = el("tr", { "data-indicator": d.code, class: out ? "out-of-band" : "" });
      tr.appendChild(el("td", { title: d.numerator + " / " + d.denominator }, d.code.replace("_", " ") + ": " + d.title));
      IND_LEVELS.forEach(function (level) {
        var f = byKey[d.code + "/" + level];
        var td = el("td", { class: "num" + (f && f.suppressed ? " suppressed" : ""), "data-test": "ind-" + d.code + "-" + level },
          indicatorValue(f, d.unit));
        if (f && f.suppressed) td.setAttribute("title", "suppressed (" + f.suppressed + ")");
        else if (f && f.denominator !== null) td.setAttribute("title", f.name + ": " + f.numerator + " / " + f.denominator);
        tr.appendChild(td);
      });
      var band = d.unit === "EUR" ? "€" + d.band[0] / 1000 + "k–€" + d.band[1] / 1000 + "k" : d.band[0] + "–" + d.band[1] + (d.unit === "%" ? "%" : " " + d.unit);
      tr.appendChild(el("td", {}, band));
      return tr;
    }));
    recyclingChart(data, byKey);
  }
  function recyclingChart(data, byKey) {
    var chart = document.getElementById("recycling-chart");
    chart.textContent = "";
    var def = data.indicators.find(function (d) { return d.code === "W_RECYCLING"; });
    if (!def) return;
    // 0-70 %: the EU targets (55-65 %) stay apart.
    var L = 150, W = 640, BAR = 16, scale = function (v) { return Math.min(v, 70) * (W - L - 50) / 70; };
    IND_LEVELS.forEach(function (level, i) {
      var f = byKey["W_RECYCLING/" + level];
      var y = 14 + i * (BAR + 6);
      var t = svg("text", { x: 2, y: y + 12, "font-size": 10 }); t.textContent = f ? f.name : level; chart.appendChild(t);
      if (f && f.value !== null && !f.suppressed) {
        chart.appendChild(svg("rect", { x: L, y: y, width: scale(f.value), height: BAR, fill: "#2e8b57", "data-test": "recycling-bar-" + level }));
        var v = svg("text", { x: L + scale(f.value) + 3, y: y + 12, "font-size": 10 }); v.textContent = f.value.toFixed(1) + "%"; chart.appendChild(v);
      }
    });
    var bottom = 14 + IND_LEVELS.length * (BAR + 6);
    def.targets.forEach(function (t, i) {
      var x = L + scale(t.value);
      chart.appendChild(svg("line", { x1: x, y1: 8, x2: x, y2: bottom, stroke: "#b00020", "stroke-dasharray": "4 2", "data-test": "recycling-target-" + t.year }));
      var l = svg("text", { x: x - 12, y: bottom + 12 + i * 11, "font-size": 9, fill: "#b00020" }); l.textContent = t.value + "% by " + t.year; chart.appendChild(l);
    });
  }
  function indicatorsQuery() {
    var la = document.getElementById("ind-council").value || "DC";
    var period = (document.getElementById("ind-period").value || "").split("-Q");
    var q = "/v1/indicators?la_code=" + encodeURIComponent(la);
    if (period[0]) q += "&year=" + period[0];
    if (period[1]) q += "&quarter=" + period[1];
    return q;
  }
  function setupIndicators() {
    var sel = document.getElementById("ind-council");
    councils.forEach(function (c) { sel.appendChild(el("option", { value: c.la_code }, c.official_name)); });
    sel.value = params.get("council") || "DC";
    var per = document.getElementById("ind-period");
    var now = new Date(), y = now.getUTCFullYear(), q = Math.floor(now.getUTCMonth() / 3) + 1;
    var options = [String(y)];
    for (var i = 0; i < 4; i++) { options.push(y + "-Q" + q); q -= 1; if (q === 0) { q = 4; y -= 1; } }
    options.push(String(now.getUTCFullYear() - 1));
    options.forEach(function (o) { per.appendChild(el("option", { value: o }, o === String(now.getUTCFullYear()) ? o + " (so far)" : o)); });
    [sel, per].forEach(function (s) { s.addEventListener("change", function () { api(indicatorsQuery()).then(indicatorsPanel); }); });
  }

  function refresh() {
    var status = document.getElementById("status");
    return Promise.all([
      api("/v1/quality/freshness?limit=1000").then(freshness),
      // The broker may be unreachable from the API: that panel says so, the others still load.
      Promise.all([api("/v1/reconcile"), api("/v1/quality/loss?limit=1000")]).then(function (r) { reconcile(r[0], r[1]); })
        .catch(function (e) {
          var summary = document.getElementById("reconcile-summary");
          summary.dataset.state = "error";
          summary.textContent = "Reconciliation unavailable: " + e.message;
        }),
      // The last 24 months only: the full history (years x 9 regions) outgrows a page, and a page
      // cut in the past would show an old month as the latest.
      api("/v1/summaries/homelessness/region-trend?limit=1000&from=" + monthsAgo(TREND_MONTHS - 1)).then(trend),
      api("/v1/summaries/planning/decision-times?limit=1000").then(planning),
      api("/v1/summaries/housing/voids?limit=1000").then(voids),
      api(indicatorsQuery()).then(indicatorsPanel)
    ]).then(function () {
      status.dataset.state = "ok";
      status.textContent = "Updated " + new Date().toLocaleTimeString();
      document.body.dataset.loaded = String((Number(document.body.dataset.loaded) || 0) + 1);
    }).catch(function (e) {
      status.dataset.state = "error";
      status.textContent = "Error: " + e.message + (token ? "" : " (enter an analyst token)");
    });
  }

  document.getElementById("token-form").addEventListener("submit", function (ev) {
    ev.preventDefault();
    token = document.getElementById("token").value.trim();
    sessionStorage.setItem("lgma-token", token);
    refresh();
  });

  api("/v1/councils").then(function (c) { councils = c.councils; setupIndicators(); }).then(refresh).then(function () {
    setInterval(refresh, interval);
  });
})();
