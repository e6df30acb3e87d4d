import FuzzSupport
import RecKit

/// Logged bandit data through a column mapping (key, context, time and event columns), streamed in small chunks.
@main
enum FuzzLogStream: FuzzTarget {
    static func fuzz(_ input: UnsafeRawBufferPointer) {
        guard
            let cols = try? LogColumns.parse(
                "item=item,position=pos,reward=click,propensity=prop,context=ctx,row_key=id,time=t,event=e"),
            let reader = try? LogReader(path: fuzzFile(input), columns: cols)
        else { return }
        while let c = try? reader.next(maxRows: 7) { _ = c.count }
    }
}
