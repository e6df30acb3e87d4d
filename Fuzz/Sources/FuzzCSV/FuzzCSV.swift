import FuzzSupport
import RecKit

/// The byte-level CSV reader (every field as string, int, double) and CSV matrices.
@main
enum FuzzCSV: FuzzTarget {
    static func fuzz(_ input: UnsafeRawBufferPointer) {
        let path = fuzzFile(input)
        if let r = try? CSVReader(path: path) {
            while (try? r.next()) == true {
                for i in 0..<r.count {
                    _ = r.string(i)
                    _ = r.int(i)
                    _ = r.double(i)
                }
            }
        }
        _ = try? CSVMatrix.read(path)
    }
}
