fn main() {
    let status = midge::cli::main();
    // Every path out has dropped its broker by now; this is the backstop.
    midge::broker::stop_all_spawned();
    std::process::exit(status);
}
