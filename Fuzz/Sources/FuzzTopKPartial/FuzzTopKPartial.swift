import FuzzSupport
import RecKit

/// Sharded top-k partial files (`reckit score --partial`): decode, then merge with a
/// complementary piece and with itself.
@main
enum FuzzTopKPartial: FuzzTarget {
    static func fuzz(_ input: UnsafeRawBufferPointer) {
        guard let start = input.baseAddress,
            let p = try? TopKPartial.decode(fuzzData(start, input.count), file: "fuzz.bin")
        else { return }
        _ = try? TopKPartial.merge([(file: "a", partial: p)])
        _ = try? TopKPartial.merge([(file: "a", partial: p), (file: "b", partial: p)], k: 3)
    }
}
