import FuzzSupport
import RecKit

/// Item feature tables (the logistic reward model's item context).
@main
enum FuzzItemFeatures: FuzzTarget {
    static func fuzz(_ input: UnsafeRawBufferPointer) {
        _ = try? ItemFeatures.load(csv: fuzzFile(input))
    }
}
