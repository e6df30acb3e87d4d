import FuzzSupport
import RecKit

/// Logged bandit data through a column mapping (key, context, time and event columns), streamed in
/// small chunks, read twice: on one thread in large blocks and on three threads in 16-byte blocks
/// (spans cut at every few lines). The two must give the same chunks and the same first error.
@main
enum FuzzLogStream: FuzzTarget {
    static func read(_ path: String, _ cols: LogColumns, threads: Int, block: Int) -> ([LogChunk], String?) {
        let reader: LogReader
        do {
            reader = try LogReader(path: path, columns: cols, parallelism: .threads(threads), blockBytes: block)
        } catch {
            return ([], "\(error)")
        }
        var out = [LogChunk]()
        do { while let c = try reader.next(maxRows: 7) { out.append(c) } } catch { return (out, "\(error)") }
        return (out, nil)
    }

    static func fuzz(_ input: UnsafeRawBufferPointer) {
        guard
            let cols = try? LogColumns.parse(
                "item=item,position=pos,reward=click,propensity=prop,context=ctx,row_key=id,time=t,event=e")
        else { return }
        let path = fuzzFile(input)
        let (a, ea) = read(path, cols, threads: 1, block: 2 << 20)
        let (b, eb) = read(path, cols, threads: 3, block: 16)
        precondition(ea == eb, "errors differ: \(ea ?? "none") vs \(eb ?? "none")")
        precondition(a.count == b.count, "chunk counts differ")
        for (x, y) in zip(a, b) {
            precondition(x.items == y.items && x.positions == y.positions && x.lines == y.lines)
            precondition(x.rewards.map(\.bitPattern) == y.rewards.map(\.bitPattern))
            precondition(x.propensities?.map(\.bitPattern) == y.propensities?.map(\.bitPattern))
            precondition(x.rowKeys == y.rowKeys)
            precondition(x.contexts.map(\.ids) == y.contexts.map(\.ids))
            precondition(x.contexts.map(\.values) == y.contexts.map(\.values))
        }
    }
}
