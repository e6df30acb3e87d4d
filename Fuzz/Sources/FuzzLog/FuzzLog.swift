import FuzzSupport
import RecKit

/// Logged bandit data in the OBD layout, read whole.
@main
enum FuzzLog: FuzzTarget {
    static func fuzz(_ input: UnsafeRawBufferPointer) {
        _ = try? LoggedData.load(csv: fuzzFile(input), columns: .openBanditDataset)
    }
}
