import FuzzSupport
import RecKit

/// Offline A/B state files: decode, merge with itself, advance, report.
@main
enum FuzzOPEState: FuzzTarget {
    static func fuzz(_ input: UnsafeRawBufferPointer) {
        guard let start = input.baseAddress,
            let s = try? OffPolicyState.decode(fuzzData(start, input.count), file: "fuzz.json")
        else { return }
        if let m = try? OffPolicyState.merge([s, s]), let next = try? m.advanced(), next.pass == .done {
            _ = try? next.report()
        }
        _ = try? s.report()
    }
}
