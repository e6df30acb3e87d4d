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
        let pairs = readLogChunksTwice(path, cols, maxRows: 7)
        for (x, y) in pairs {
            precondition(x.rewards.map(\.bitPattern) == y.rewards.map(\.bitPattern))
            precondition(x.propensities?.map(\.bitPattern) == y.propensities?.map(\.bitPattern))
            precondition(x.rowKeys == y.rowKeys)
            precondition(x.contexts.map(\.ids) == y.contexts.map(\.ids))
            precondition(x.contexts.map(\.values) == y.contexts.map(\.values))
        }
    }
}
