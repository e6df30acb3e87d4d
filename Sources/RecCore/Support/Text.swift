#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif

// Text helpers that RecKit's library modules use instead of full Foundation's (they build on
// FoundationEssentials, which has no String(format:), trimmingCharacters or thread dictionaries,
// so that a library linked with the Swift runtime statically, as the Python wheel's is, does not
// carry Foundation's ICU data).

/// `format` applied to `args` by C's `vsnprintf`: the text Foundation's `String(format:)` gives for
/// numeric conversions (`%g`, `%.4f`, `%e`, `%ld`, `%02ld`, `%x`). Strings are not arguments here
/// (interpolate them).
public func cFormat(_ format: String, _ args: any CVarArg...) -> String {
    withVaList(args) { first in
        var buffer = [CChar](repeating: 0, count: 64)
        let n = Int(vsnprintf(&buffer, buffer.count, format, first))
        if n < buffer.count { return String(cString: buffer) }
        buffer = [CChar](repeating: 0, count: n + 1)
        // A va_list is read once: format again from a fresh one.
        _ = withVaList(args) { again in vsnprintf(&buffer, buffer.count, format, again) }
        return String(cString: buffer)
    }
}

extension StringProtocol {
    /// The text without leading and trailing white space (spaces, tabs, and line breaks).
    public func trimmingWhitespace() -> String {
        guard let first = firstIndex(where: { !$0.isWhitespace }),
            let last = lastIndex(where: { !$0.isWhitespace })
        else { return "" }
        return String(self[first...last])
    }

    /// The text cut or padded with spaces on the right to `width` characters.
    public func padded(to width: Int) -> String {
        count >= width ? String(prefix(width)) : String(self) + String(repeating: " ", count: width - count)
    }
}

/// Path helpers on strings (Foundation's NSString path methods, for `/`-separated paths).
public enum PathText {
    /// The path without its last component ("a/b/c" → "a/b", "c" → "", "/c" → "/").
    public static func parent(of path: String) -> String {
        var p = Substring(path)
        while p.count > 1 && p.hasSuffix("/") { p.removeLast() }
        guard let slash = p.lastIndex(of: "/") else { return "" }
        if slash == p.startIndex { return "/" }
        var parent = p[..<slash]
        while parent.count > 1 && parent.hasSuffix("/") { parent.removeLast() }
        return String(parent)
    }

    /// `name` appended to `directory` with one `/` between.
    public static func join(_ directory: String, _ name: String) -> String {
        if directory.isEmpty { return name }
        return directory.hasSuffix("/") ? directory + name : directory + "/" + name
    }
}

/// A value per thread (a pthread key): each thread sees what it stored, nil before. Values are
/// released when their thread ends.
public final class ThreadLocal<Value>: @unchecked Sendable {
    private var key = pthread_key_t()

    private final class Box {
        let value: Value
        init(_ value: Value) { self.value = value }
    }

    /// A new per-thread slot (nil on every thread).
    public init() {
        pthread_key_create(&key) { p in
            guard let p else { return }
            Unmanaged<AnyObject>.fromOpaque(p).release()
        }
    }

    deinit { pthread_key_delete(key) }

    /// This thread's value.
    public var value: Value? {
        get {
            guard let p = pthread_getspecific(key) else { return nil }
            return Unmanaged<Box>.fromOpaque(p).takeUnretainedValue().value
        }
        set {
            if let old = pthread_getspecific(key) { Unmanaged<AnyObject>.fromOpaque(old).release() }
            let new = newValue.map { Unmanaged.passRetained(Box($0) as AnyObject).toOpaque() }
            pthread_setspecific(key, new)
        }
    }
}

/// The C library's functions by a name that no method shadows (inside a type with its own
/// `log` or `write`, say), on Linux and Darwin alike.
public enum LibC {
    /// Natural logarithm.
    @inlinable public static func log(_ x: Double) -> Double { _log(x) }
    /// Natural logarithm (logf).
    @inlinable public static func log(_ x: Float) -> Float { _logf(x) }
    /// e to the x.
    @inlinable public static func exp(_ x: Double) -> Double { _exp(x) }
    /// log(1 + x), accurate near 0.
    @inlinable public static func log1p(_ x: Double) -> Double { _log1p(x) }
    /// log(1 + x), accurate near 0 (log1pf).
    @inlinable public static func log1p(_ x: Float) -> Float { _log1pf(x) }
    /// Base-2 logarithm.
    @inlinable public static func log2(_ x: Double) -> Double { _log2(x) }
    /// x to the y.
    @inlinable public static func pow(_ x: Double, _ y: Double) -> Double { _pow(x, y) }
    /// x to the y (powf).
    @inlinable public static func pow(_ x: Float, _ y: Float) -> Float { _powf(x, y) }
    /// open(2): a descriptor, or -1 with errno set.
    public static func open(_ path: String, _ flags: Int32) -> Int32 { _open(path, flags) }
    /// read(2): bytes read, 0 at the end, -1 with errno set.
    public static func read(_ fd: Int32, _ buffer: UnsafeMutableRawPointer, _ count: Int) -> Int {
        _read(fd, buffer, count)
    }
    /// write(2): bytes written, or -1 with errno set.
    public static func write(_ fd: Int32, _ buffer: UnsafeRawPointer, _ count: Int) -> Int {
        _write(fd, buffer, count)
    }
}

@usableFromInline func _log(_ x: Double) -> Double { log(x) }
@usableFromInline func _logf(_ x: Float) -> Float { logf(x) }
@usableFromInline func _exp(_ x: Double) -> Double { exp(x) }
@usableFromInline func _log1p(_ x: Double) -> Double { log1p(x) }
@usableFromInline func _log1pf(_ x: Float) -> Float { log1pf(x) }
@usableFromInline func _log2(_ x: Double) -> Double { log2(x) }
@usableFromInline func _pow(_ x: Double, _ y: Double) -> Double { pow(x, y) }
@usableFromInline func _powf(_ x: Float, _ y: Float) -> Float { powf(x, y) }
func _open(_ path: String, _ flags: Int32) -> Int32 { open(path, flags) }
func _read(_ fd: Int32, _ buffer: UnsafeMutableRawPointer, _ count: Int) -> Int { read(fd, buffer, count) }
func _write(_ fd: Int32, _ buffer: UnsafeRawPointer, _ count: Int) -> Int { write(fd, buffer, count) }
