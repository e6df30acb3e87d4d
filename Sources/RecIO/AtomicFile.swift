import RecCore

#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif
#if canImport(Glibc)
    import Glibc
#endif

/// Atomic file writes: the data goes to a temporary file in the same folder, is flushed to disk,
/// and is renamed over the destination, so a crash leaves either the old file or the new one.
///
/// Only regular files are replaced: a destination that is a symbolic link, a FIFO, a device, a
/// socket or a directory is refused (renaming over it would silently turn it into a regular file,
/// or write through a link somewhere unexpected). Temporary files are named
/// `.NAME.tmp-PID-RANDOM`; a write removes the temporaries of the same destination left behind
/// by processes that no longer run (a run killed mid-write), never those of a live process.
public enum AtomicFile {
    /// Writes `data` to `path` atomically.
    /// - Throws: `.cannotWrite` naming the path: the destination is not a regular file, the
    ///   folder is not writable, or the disk is full (the old file stays as it was).
    public static func write(_ data: Data, to path: String) throws(RecIOError) {
        try write([(data, path)])
    }

    /// Writes several files together: every one to its temporary file and to disk first, then
    /// all renamed; if any cannot be written, none is replaced (a full disk leaves the old set
    /// whole, never a new checkpoint beside an old one).
    /// - Throws: `.cannotWrite` naming the first path that could not be written.
    public static func write(_ files: [(data: Data, path: String)]) throws(RecIOError) {
        var temporaries = [(tmp: String, path: String)]()
        do {
            for (data, path) in files {
                try checkDestination(path)
                removeStaleTemporaries(of: path)
                temporaries.append((try writeTemporary(data, for: path), path))
            }
        } catch {
            for t in temporaries { unlink(t.tmp) }
            throw error
        }
        for (i, t) in temporaries.enumerated() where rename(t.tmp, t.path) != 0 {
            let r = FileInput.reason(errno)
            for u in temporaries[i...] { unlink(u.tmp) }
            throw .cannotWrite(file: t.path, reason: r)
        }
    }

    /// `data` in a new temporary file beside `path`, flushed to disk; returns its path.
    static func writeTemporary(_ data: Data, for path: String) throws(RecIOError) -> String {
        let dir = URL(fileURLWithPath: path).deletingLastPathComponent().path
        let tmp = dir + "/" + temporaryPrefix(of: path) + "\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        let fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw .cannotWrite(file: path, reason: FileInput.reason(errno)) }
        var ok = true
        data.withUnsafeBytes { raw in
            var off = 0
            while off < raw.count {
                let w = LibC.write(fd, raw.baseAddress! + off, raw.count - off)
                if w < 0 && errno == EINTR { continue }
                if w <= 0 {
                    ok = false
                    break
                }
                off += w
            }
        }
        let reason = ok ? "" : FileInput.reason(errno)
        if ok && fsync(fd) != 0 { ok = false }
        let fsyncReason = ok ? "" : FileInput.reason(errno)
        close(fd)
        guard ok else {
            unlink(tmp)
            throw .cannotWrite(file: path, reason: reason.isEmpty ? fsyncReason : reason)
        }
        return tmp
    }

    /// Refuses a destination that exists and is not a regular file (links are not followed).
    /// - Throws: `.cannotWrite` saying what the node is.
    public static func checkDestination(_ path: String) throws(RecIOError) {
        var st = stat()
        guard lstat(path, &st) == 0 else { return }  // absent: fine
        let kind: String
        switch st.st_mode & S_IFMT {
        case S_IFREG: return
        case S_IFLNK: kind = "a symbolic link"
        case S_IFDIR: kind = "a directory"
        case S_IFIFO: kind = "a FIFO"
        case S_IFCHR, S_IFBLK: kind = "a device"
        case S_IFSOCK: kind = "a socket"
        default: kind = "not a regular file"
        }
        throw .cannotWrite(
            file: path,
            reason: "it is \(kind); RecKit replaces only regular files, so give a "
                + "regular file's path (or stdout, where the command offers it)")
    }

    /// Checks before any work is done that `path` can be written: `checkDestination`, and its
    /// folder exists, is a folder and is writable (a long computation should not end in "cannot
    /// write").
    /// - Throws: `.cannotWrite` naming the path and what is wrong.
    public static func checkWritable(_ path: String) throws(RecIOError) {
        try checkDestination(path)
        let dir = URL(fileURLWithPath: path).deletingLastPathComponent().path
        var st = stat()
        guard stat(dir, &st) == 0 else { throw .cannotWrite(file: path, reason: "its folder \(dir) does not exist") }
        guard st.st_mode & S_IFMT == S_IFDIR else { throw .cannotWrite(file: path, reason: "\(dir) is not a folder") }
        guard access(dir, W_OK) == 0 else {
            throw .cannotWrite(file: path, reason: "its folder is not writable (\(FileInput.reason(errno)))")
        }
    }

    static func temporaryPrefix(of path: String) -> String {
        "." + URL(fileURLWithPath: path).lastPathComponent + ".tmp-"
    }

    /// Removes `path`'s temporaries whose writing process is gone; returns how many.
    @discardableResult
    public static func removeStaleTemporaries(of path: String) -> Int {
        let url = URL(fileURLWithPath: path)
        return StaleTemporaries.remove(in: url.deletingLastPathComponent().path, prefix: temporaryPrefix(of: path))
    }
}

/// Output folders.
public enum Directory {
    /// Creates `path` and its missing parents (an existing folder is fine).
    /// - Throws: `.cannotWrite` naming the path and the system's reason (a file in the way,
    ///   permissions, a read-only file system).
    public static func create(_ path: String) throws(RecIOError) {
        var st = stat()
        if stat(path, &st) == 0 {
            guard (st.st_mode & S_IFMT) == S_IFDIR else {
                throw .cannotWrite(file: path, reason: "it exists and is not a folder")
            }
            return
        }
        let parent = PathText.parent(of: path)
        if !parent.isEmpty && parent != path { try create(parent) }
        if mkdir(path, 0o755) != 0 && errno != EEXIST {
            throw .cannotWrite(file: path, reason: FileInput.reason(errno))
        }
    }
}

/// Temporary files named `PREFIX PID-…` (or `PREFIX PID.…`) whose process no longer runs.
public enum StaleTemporaries {
    /// Removes the files in `dir` whose names start with `prefix` followed by the id of a process
    /// that no longer exists; returns how many were removed.
    @discardableResult
    public static func remove(in dir: String, prefix: String) -> Int {
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: dir.isEmpty ? "." : dir) else {
            return 0
        }
        var removed = 0
        for name in names where name.hasPrefix(prefix) {
            let rest = name.dropFirst(prefix.count)
            guard let pid = Int32(rest.prefix(while: { $0.isNumber })), pid > 0, pid != getpid() else { continue }
            if kill(pid, 0) == 0 || errno == EPERM { continue }  // alive (or someone else's)
            if unlink((dir.isEmpty ? "." : dir) + "/" + name) == 0 { removed += 1 }
        }
        return removed
    }
}
