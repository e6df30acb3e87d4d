import ArgumentParser
import Foundation
import RecKit

/// `reckit score`: the top-k items of a catalog for a batch of states.
struct Score: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Top-k items of a catalog for each state (blocked GEMM with fused top-k).",
        discussion: """
        Items and states are CSV files of floats (one row per item / state, an optional header line),
        or are generated with --items/--batch/--dim/--seed. Output: one line per (state, rank) as
        CSV (state,rank,item,score) on stdout, or JSON with --format json; --output writes to a file
        atomically instead.
        """)

    @Option(help: "CSV of item vectors (N rows × d).") var itemsFile: String?
    @Option(help: "CSV of per-item bias (N rows × 1).") var biasFile: String?
    @Option(help: "CSV of state vectors (B rows × d).") var statesFile: String?
    @Option(help: "Generated catalog size when no --items-file.") var items: Int = 100_000
    @Option(help: "Generated state count when no --states-file.") var batch: Int = 4
    @Option(help: "Generated dimension.") var dim: Int = 64
    @Option(help: "Seed for generated data.") var seed: UInt64 = 1
    @Option(help: "Items per state.") var k: Int = 10
    @Option(help: "Output format: csv or json.") var format: String = "csv"
    @Option(help: "Write the result to this file (atomically) instead of stdout.") var output: String?
    @OptionGroup var threading: ThreadOptions

    func validate() throws {
        guard k >= 1 else { throw ValidationError("--k must be at least 1, got \(k)") }
        guard ["csv", "json"].contains(format) else { throw ValidationError("--format must be csv or json, got '\(format)'") }
        for (name, v) in [("--items", items), ("--batch", batch), ("--dim", dim)] where v < 1 {
            throw ValidationError("\(name) must be at least 1, got \(v)")
        }
        // Generated data is allocated from these sizes: check them before anything is.
        if itemsFile == nil {
            try checkOptionMemory("the generated catalog (--items \(items) × --dim \(dim) floats)",
                                   bytes: MemoryBudget.product([items, dim, 4]))
        }
        if statesFile == nil {
            try checkOptionMemory("the generated states and their top-k (--batch \(batch) × (--dim \(dim) + --k \(min(k, items)) × 2) values)",
                                   bytes: MemoryBudget.bytes(rows: batch, columns: [dim, min(k, items), min(k, items)]))
        }
    }

    func run() throws {
        try threading.apply()
        try runReporting {
            let itemM = try itemsFile.map { path throws(RecIOError) in try CSVMatrix.read(path) }
                ?? Matrix.random(items, dim, seed: seed &+ 1_000_003)
            let statesM = try statesFile.map { path throws(RecIOError) in try CSVMatrix.read(path) }
                ?? Matrix.random(batch, itemM.cols, seed: seed)
            var bias: [Float]?
            if let bf = biasFile {
                let b = try CSVMatrix.read(bf)
                guard b.cols == 1, b.rows == itemM.rows else {
                    throw RecIOError.malformed(file: bf, line: 1, field: nil,
                                               message: "bias must be \(itemM.rows) rows × 1 column (one per item), got \(b.rows)×\(b.cols)")
                }
                bias = b.storage
            }
            guard statesM.cols == itemM.cols else {
                throw RecIOError.malformed(file: statesFile ?? "states", line: 1, field: nil,
                                           message: "states have \(statesM.cols) columns but items have \(itemM.cols)")
            }
            let scorer = CatalogScorer(items: itemM, bias: bias)
            var result: TopKResult!
            let ms = try elapsedMs { result = try scorer.topK(states: statesM, k: k) }
            stderrLine(String(format: "scored %ld states against %ld items (d=%ld, k=%ld) in %.2f ms on %ld threads",
                              statesM.rows, itemM.rows, itemM.cols, k, ms, Threading.count))
            let nonFinite = (0..<result.rows).reduce(0) { n, r in n + result.scores(row: r).filter { !$0.isFinite }.count }
            let out: Data
            if format == "json" {
                struct Entry: Encodable { let item: Int; let score: Float }
                struct Row: Encodable { let state: Int; let top: [Entry] }
                let rows = (0..<result.rows).map { r in
                    Row(state: r, top: zip(result.items(row: r), result.scores(row: r)).map { Entry(item: Int($0), score: $1) })
                }
                out = try JSONOutput.encode(rows, what: output ?? "standard output").data + Data("\n".utf8)
            } else {
                var text = "state,rank,item,score\n"
                for r in 0..<result.rows {
                    for (j, (it, sc)) in zip(result.items(row: r), result.scores(row: r)).enumerated() {
                        text += "\(r),\(j + 1),\(it),\(sc)\n"
                    }
                }
                out = Data(text.utf8)
            }
            if nonFinite > 0 {
                stderrLine("warning: \(nonFinite) scores are not finite (a product overflowed Float, or an input is huge)"
                           + (format == "json" ? ", written as null" : ""))
            }
            if let output { try AtomicFile.write(out, to: output) } else { print(String(decoding: out, as: UTF8.self), terminator: "") }
        }
    }
}
