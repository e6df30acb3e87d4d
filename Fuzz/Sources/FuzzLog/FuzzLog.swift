import FuzzSupport
import RecKit

/// Logged bandit data: the OBD layout and a mapped CSV with a key column, whole and streamed,
/// and item features.
@main
enum Main {
    static func main() { runFuzzer(fuzzOne) }
}

/// One input (libFuzzer's callback).
func fuzzOne(_ data: UnsafePointer<UInt8>?, _ count: Int) -> CInt {
    guard let start = UnsafeRawPointer(data) else { return 0 }
    let path = fuzzFile(UnsafeRawBufferPointer(start: start, count: count))
    _ = try? LoggedData.load(csv: path, columns: .openBanditDataset)
    if let cols = try? LogColumns.parse("item=item,position=pos,reward=click,propensity=prop,context=ctx,row_key=id,time=t,event=e"),
       let reader = try? LogReader(path: path, columns: cols) {
        while let c = try? reader.next(maxRows: 7) { _ = c.count }
    }
    _ = try? ItemFeatures.load(csv: path)
    return 0
}
