fn main() {
    println!("lgma-registry: not yet built");
}
