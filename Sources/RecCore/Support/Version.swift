/// RecKit's version: one number for the library, the `reckit` command (`reckit --version`), the
/// C ABI (`reckit_version`) and the Python package and wheel (`reckit.__version__`).
public enum RecKitInfo {
    /// The release, as semantic versioning (`MAJOR.MINOR.PATCH`).
    public static let version = "0.1.0"
}
