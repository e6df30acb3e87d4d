import FuzzSupport
import RecKit

/// Logged bandit data through a column mapping (key, context, time and event columns), streamed in
/// small chunks, read twice: on one thread in large blocks and on three threads in 16-byte blocks
/// (spans cut at every few lines). The two must give the same chunks and the same first error.
@main
enum FuzzLogStream: FuzzTarget {
    static func fuzz(_ input: UnsafeRawBufferPointer) {
        guard
            let cols = try? LogColumns.parse(
                "item=item,position=pos,reward=click,propensity=prop,context=ctx,row_key=id,time=t,event=e")
        else { return }
        let path = fuzzFile(input)
        let (a, ea) = readLogChunks(path, cols, threads: 1, block: 2 << 20, maxRows: 7)
        let (b, eb) = readLogChunks(path, cols, threads: 3, block: 16, maxRows: 7)
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
