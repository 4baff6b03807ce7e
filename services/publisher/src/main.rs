fn main() {
    println!("lgma-publisher: not yet built");
}
