import Foundation
import FuzzSupport
import RecKit

/// The byte-level CSV reader (every field as string, int, double) and CSV matrices, read three
/// ways that must agree (the same matrix bits or the same first error): on one thread in large
/// blocks, on three threads in 16-byte blocks (spans cut at every few lines), and from memory.
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
        func outcome(_ read: () throws(RecIOError) -> Matrix) -> Result<[UInt32], RecIOError> {
            do {
                let m = try read()
                return .success([UInt32(m.rows), UInt32(m.cols)] + m.storage.map(\.bitPattern))
            } catch { return .failure(error) }
        }
        let one = outcome { () throws(RecIOError) in try CSVMatrix.read(path, parallelism: .threads(1)) }
        let three = outcome { () throws(RecIOError) in
            try CSVMatrix.read(path, parallelism: .threads(3), blockBytes: 16)
        }
        let memory = outcome { () throws(RecIOError) in
            try CSVMatrix.parse(
                Data(bytes: input.baseAddress ?? UnsafeRawPointer(bitPattern: 1)!, count: input.count), file: path)
        }
        precondition(one == three, "CSVMatrix: 1 thread \(one) vs 3 threads \(three)")
        precondition(one == memory, "CSVMatrix: file \(one) vs memory \(memory)")
    }
}
