import FuzzSupport
import RecKit

/// Offline A/B state files: decode (with its checksum, and without it to reach the checks after
/// it), merge with a copy under another shard identity, advance, report.
@main
enum FuzzOPEState: FuzzTarget {
    static func fuzz(_ input: UnsafeRawBufferPointer) {
        guard let start = input.baseAddress else { return }
        let data = fuzzData(start, input.count)
        _ = try? OffPolicyState.decode(data, file: "fuzz.json")
        guard let s = try? OffPolicyState.decode(data, file: "fuzz.json", verifyingChecksum: false) else { return }
        var other = s
        other.shards = s.shards.map {
            var x = $0
            x.fingerprint &+= 1
            return x
        }
        if let m = try? OffPolicyState.merge([s, other]), let next = try? m.advanced(), next.pass == .done {
            _ = try? next.report()
        }
        _ = try? OffPolicyState.merge([s, s])
        _ = try? s.report()
        _ = try? s.encoded()
    }
}
