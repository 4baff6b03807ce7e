fn main() {
    println!("lgma-api: not yet built");
}
