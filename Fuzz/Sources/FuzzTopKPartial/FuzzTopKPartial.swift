import FuzzSupport
import RecKit

/// Sharded top-k partial files (`reckit score --partial`): decode (with the checksum, and without
/// it to reach the checks after it), then merge with a complementary piece and with itself.
@main
enum FuzzTopKPartial: FuzzTarget {
    static func fuzz(_ input: UnsafeRawBufferPointer) {
        guard let start = input.baseAddress else { return }
        let data = fuzzData(start, input.count)
        _ = try? TopKPartial.decode(data, file: "fuzz.bin")
        guard let p = try? TopKPartial.decode(data, file: "fuzz.bin", verifyingChecksum: false) else { return }
        _ = try? TopKPartial.merge([(file: "a", partial: p)])
        _ = try? TopKPartial.merge([(file: "a", partial: p), (file: "b", partial: p)], k: 3)
    }
}
