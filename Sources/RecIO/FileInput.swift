import RecCore

#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif
#if canImport(Glibc)
    import Glibc
#endif

/// Reading outside files without trapping: directories, unreadable paths and read errors become
/// `RecIOError.cannotOpen` naming the path and the reason (the OS's message, once).
public enum FileInput {
    /// Opens `path` for reading (`-` is standard input).
    /// - Throws: `.cannotOpen` for a missing path, a directory or a permission error.
    public static func open(_ path: String) throws(RecIOError) -> Int32 {
        if path == "-" { return STDIN_FILENO }
        let fd = LibC.open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw .cannotOpen(file: path, reason: reason(errno)) }
        var st = stat()
        guard fstat(fd, &st) == 0 else {
            let r = reason(errno)
            close(fd)
            throw .cannotOpen(file: path, reason: r)
        }
        if (st.st_mode & S_IFMT) == S_IFDIR {
            close(fd)
            throw .cannotOpen(file: path, reason: "it is a directory")
        }
        return fd
    }

    /// Reads up to `count` bytes into `buffer` (appending); 0 at the end.
    /// - Throws: `.cannotOpen` with the OS's reason when the read fails.
    public static func read(_ fd: Int32, into buffer: inout [UInt8], count: Int, path: String) throws(RecIOError) -> Int
    {
        // Read into uninitialised storage (no zero fill of `count` bytes), then append what came.
        var failure: Int32 = 0
        let chunk = [UInt8](unsafeUninitializedCapacity: count) { p, initialized in
            var n = -1
            while true {
                n = LibC.read(fd, p.baseAddress!, count)
                if n >= 0 || errno != EINTR { break }
            }
            if n < 0 { failure = errno }
            initialized = max(n, 0)
        }
        guard failure == 0 else { throw .cannotOpen(file: path, reason: "read failed: " + reason(failure)) }
        buffer.append(contentsOf: chunk)
        return chunk.count
    }

    /// The whole file, refusing anything above `limit` bytes.
    /// - Throws: `.cannotOpen` (missing, directory, unreadable, larger than the limit).
    public static func contents(_ path: String, limit: Int = 1 << 32) throws(RecIOError) -> Data {
        let fd = try open(path)
        defer { if fd != STDIN_FILENO { close(fd) } }
        var bytes = [UInt8]()
        while try read(fd, into: &bytes, count: 1 << 20, path: path) > 0 {
            if bytes.count > limit { throw .cannotOpen(file: path, reason: "larger than \(limit) bytes") }
        }
        return Data(bytes)
    }

    static func reason(_ e: Int32) -> String {
        switch e {
        case ENOENT: return "no such file"
        case EACCES, EPERM: return "permission denied"
        case EISDIR: return "it is a directory"
        default: return String(cString: strerror(e))
        }
    }
}
