fn main() {
    println!("lgma-ingest: not yet built");
}
