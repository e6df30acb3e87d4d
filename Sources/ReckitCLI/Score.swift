import ArgumentParser
import Foundation
import RecKit

/// `reckit score`: the top-k items of a catalog for a batch of states, in one process or shard by
/// shard (`--partial`, then `merge`).
struct Score: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract:
            "Top-k items of a catalog for each state (blocked GEMM with fused top-k); sharded with --partial and merge.",
        subcommands: [ScoreRun.self, ScoreMerge.self],
        defaultSubcommand: ScoreRun.self)
}

enum ScoreFormat: String, ExpressibleByArgument, CaseIterable {
    case csv, json
}

/// Where a top-k result goes: CSV or JSON, a file (atomically) or standard output.
struct ScoreOutput: ParsableArguments {
    @Option(help: "Output format: csv or json.") var format: ScoreFormat = .csv
    @Option(help: "Write the result to this file (atomically) instead of stdout.") var output: String?

    /// Rows numbered from `firstState`.
    func write(_ result: TopKResult, firstState: Int = 0) throws {
        let nonFinite = (0..<result.rows).reduce(0) { n, r in n + result.scores(row: r).filter { !$0.isFinite }.count }
        let out: Data
        switch format {
        case .json:
            out =
                try JSONOutput.encode(result.scoredStates(firstState: firstState), what: output ?? "standard output")
                .data + Data("\n".utf8)
        case .csv:
            var text = "state,rank,item,score\n"
            for r in 0..<result.rows {
                for (j, (it, sc)) in zip(result.items(row: r), result.scores(row: r)).enumerated() {
                    text += "\(firstState + r),\(j + 1),\(it),\(sc)\n"
                }
            }
            out = Data(text.utf8)
        }
        if nonFinite > 0 {
            stderrLine(
                "warning: \(nonFinite) scores are not finite (a product overflowed Float, or an input is huge)"
                    + (format == .json ? ", written as null" : ""))
        }
        if let output {
            try AtomicFile.write(out, to: output)
        } else {
            print(String(decoding: out, as: UTF8.self), terminator: "")
        }
    }
}

/// `reckit score` (run): one process, or one (state block, item shard) piece with `--partial`.
struct ScoreRun: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Top-k items of a catalog (or of one shard of it, --partial) for each state.",
        discussion: """
            Items and states are CSV files of floats (one row per item / state, an optional header line), \
            or are generated with --items/--batch/--dim/--seed; --items-from takes a trained checkpoint's \
            head (weights and bias) as the items. Output: one line per (state, rank) as CSV \
            (state,rank,item,score) on stdout, or JSON with --format json; --output writes to a file \
            atomically instead.

            Sharded: each piece scores a block of states (--first-state) against a shard of the items \
            (a file holding rows --first-item.. of a --catalog-size catalog, or --item-range A:B of a whole \
            items source) and writes --partial FILE; `reckit score merge FILE...` gives exactly the \
            single-process top-k (same items, same scores, ties to the lower global id, NaN last). \
            Exclusions (--exclude) are global item ids.
            """)

    @Option(help: "CSV of item vectors (N rows × d).") var itemsFile: String?
    @Option(help: "A reckit train checkpoint whose head gives the items (weights and bias).") var itemsFrom: String?
    @Option(help: "With --items-from: the supervised (default) or q head.") var head: SequentialRecommender.Head?
    @Option(help: "CSV of per-item bias (N rows × 1).") var biasFile: String?
    @Option(help: "CSV of state vectors (B rows × d).") var statesFile: String?
    @Option(
        help:
            "CSV of items to exclude per state: one line per state, global item ids separated by spaces (an empty line excludes none)."
    )
    var exclude: String?
    @Option(help: "Generated catalog size when no --items-file.") var items: Int = 100_000
    @Option(help: "Generated state count when no --states-file.") var batch: Int = 4
    @Option(help: "Generated dimension.") var dim: Int = 64
    @Option(help: "Seed for generated data.") var seed: UInt64 = 1
    @Option(help: "Items per state.") var k: Int = 10
    @Option(help: "Score only items A..<B of the items source (a shard; global ids stay A..<B).") var itemRange: String?
    @Option(help: "The items file is a shard whose first row is this global item id.") var firstItem: Int?
    @Option(help: "With --first-item: the whole catalog's size.") var catalogSize: Int?
    @Option(help: "Global index of the first state (a block of states).") var firstState: Int = 0
    @Option(help: "Write this piece's top-k as a partial file for `reckit score merge` (atomically).") var partial:
        String?
    @Option(
        help:
            "Scoring kernel: automatic (the SIMD kernel where this build has FMA and AVX2), blas, simd, or simdBFloat16 (half the bytes read per query; the same top-k, rescored exactly)."
    )
    var kernel: CatalogKernel = .automatic
    @OptionGroup var output: ScoreOutput
    @OptionGroup var threading: ThreadOptions

    func validate() throws {
        guard k >= 1 else { throw ValidationError("--k must be at least 1, got \(k)") }
        for (name, v) in [("--items", items), ("--batch", batch), ("--dim", dim)] where v < 1 {
            throw ValidationError("\(name) must be at least 1, got \(v)")
        }
        guard itemsFile == nil || itemsFrom == nil else {
            throw ValidationError("give --items-file or --items-from, not both")
        }
        guard head == nil || itemsFrom != nil else {
            throw ValidationError("--head chooses a checkpoint's head: it goes with --items-from")
        }
        guard itemRange == nil || firstItem == nil else {
            throw ValidationError("give --item-range or --first-item, not both")
        }
        guard (firstItem == nil) == (catalogSize == nil) else {
            throw ValidationError("--first-item and --catalog-size go together")
        }
        guard firstState >= 0 && firstState <= Int(Int32.max) else {
            throw ValidationError("--first-state must be in 0...\(Int32.max), got \(firstState)")
        }
        // Generated data is allocated from these sizes: check them before anything is.
        if itemsFile == nil && itemsFrom == nil {
            // The SIMD kernels keep a packed copy beside the catalog (4 or 2 bytes a value).
            let chosen = kernel.resolved(dimension: dim)
            let copies = chosen == .blas ? 4 : chosen == .simdBFloat16 ? 6 : 8
            try checkOptionMemory(
                "the generated catalog (--items \(items) × --dim \(dim) floats\(chosen == .blas ? "" : ", and its packed copy for the \(chosen) kernel"))",
                bytes: MemoryBudget.product([items, dim, copies]))
        }
        if statesFile == nil {
            try checkOptionMemory(
                "the generated states and their top-k (--batch \(batch) × (--dim \(dim) + --k \(min(k, items)) × 2) values)",
                bytes: MemoryBudget.bytes(rows: batch, columns: [dim, min(k, items), min(k, items)]))
        }
    }

    /// The items source: rows, bias, and where they sit in the catalog.
    func loadItems() throws -> (items: Matrix, bias: [Float]?, first: Int, catalog: Int) {
        var itemM: Matrix
        var bias: [Float]?
        if let path = itemsFrom {
            let model = try SequentialRecommender.load(from: path).model
            guard let h = head == .q ? model.networks[0].qHead : model.networks[0].ceHead else {
                throw RecRLError.invalidParameter(
                    "\(path): this model (\(model.config.algorithm.rawValue)) has no Q head")
            }
            itemM = h.weight.value
            bias = h.bias.value.storage
        } else {
            itemM =
                try itemsFile.map { path throws(RecIOError) in try CSVMatrix.read(path) }
                ?? Matrix.random(items, dim, seed: seed &+ 1_000_003)
        }
        if let bf = biasFile {
            let b = try CSVMatrix.read(bf)
            guard b.cols == 1, b.rows == itemM.rows else {
                throw RecIOError.malformed(
                    file: bf, line: 1, field: nil,
                    message: "bias must be \(itemM.rows) rows × 1 column (one per item), got \(b.rows)×\(b.cols)")
            }
            bias = b.storage
        }
        if let r = itemRange {
            let parts = r.split(separator: ":", omittingEmptySubsequences: false).map { Int($0) }
            guard parts.count == 2, let a = parts[0], let b = parts[1], 0 <= a, a < b, b <= itemM.rows else {
                throw ValidationError(
                    "--item-range must be A:B with 0 ≤ A < B ≤ \(itemM.rows) (the items source's rows), got '\(clipped(r))'"
                )
            }
            let total = itemM.rows
            itemM = itemM.rows(a..<b)
            return (itemM, bias.map { Array($0[a..<b]) }, a, total)
        }
        if let f = firstItem, let c = catalogSize {
            guard f >= 0, c <= Int(Int32.max), f <= c - itemM.rows else {
                throw ValidationError(
                    "--first-item \(f) with \(itemM.rows) items does not fit a --catalog-size \(c) catalog (at most \(Int32.max))"
                )
            }
            return (itemM, bias, f, c)
        }
        return (itemM, bias, 0, itemM.rows)
    }

    /// Per-state exclusions: one line per state, global ids separated by spaces or commas.
    func loadExclusions(rows: Int, catalog: Int) throws -> ExclusionSet? {
        guard let path = exclude else { return nil }
        let data = try FileInput.contents(path)
        var lines = String(decoding: data, as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: false).map(
            String.init)
        if lines.last == "" { lines.removeLast() }
        guard lines.count == rows else {
            throw RecIOError.malformed(
                file: path, line: lines.count, field: nil,
                message: "\(lines.count) lines for \(rows) states (one line per state)")
        }
        var perRow = [[Int]]()
        for (i, line) in lines.enumerated() {
            var ids = [Int]()
            for (f, tok) in line.split(whereSeparator: { $0 == " " || $0 == "," || $0 == "\r" || $0 == "\t" })
                .enumerated()
            {
                guard let id = Int(tok), id >= 0, id < catalog else {
                    throw RecIOError.malformed(
                        file: path, line: i + 1, field: f + 1,
                        message: "'\(clipped(tok))' is not an item id of the catalog (0..<\(catalog))")
                }
                ids.append(id)
            }
            perRow.append(ids)
        }
        return ExclusionSet(perRow)
    }

    func run() throws {
        try threading.apply()
        try runRL {
            try checkOutputs(partial, output.output)
            let (itemM, bias, first, catalog) = try loadItems()
            let statesM =
                try statesFile.map { path throws(RecIOError) in try CSVMatrix.read(path) }
                ?? Matrix.random(batch, itemM.cols, seed: seed)
            guard statesM.cols == itemM.cols else {
                throw RecIOError.malformed(
                    file: statesFile ?? "states", line: 1, field: nil,
                    message: "states have \(statesM.cols) columns but items have \(itemM.cols)")
            }
            let exclusions = try loadExclusions(rows: statesM.rows, catalog: catalog)
            let scorer = CatalogScorer(items: itemM, bias: bias, firstItem: first, catalogSize: catalog, kernel: kernel)
            var result: TopKResult!
            let ms = try elapsedMs { result = try scorer.topK(states: statesM, k: k, excluding: exclusions) }
            stderrLine(
                String(
                    format: "scored %ld states against %ld items (d=%ld, k=%ld) in %.2f ms on %ld threads",
                    statesM.rows, itemM.rows, itemM.cols, k, ms, Threading.count) + " (\(scorer.kernel) kernel)")
            if let partial {
                let piece = TopKPartial(
                    firstState: firstState, firstItem: first, itemCount: itemM.rows, catalogSize: catalog,
                    result: result, statesHash: TopKPartial.statesHash(statesM, exclusions: exclusions))
                try piece.write(to: partial)
                return
            }
            try output.write(result, firstState: firstState)
        }
    }
}

/// `reckit score merge`: the k-way merge of partial files into the whole top-k.
struct ScoreMerge: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "merge",
        abstract:
            "Merge the partial files of `reckit score --partial` into every state's top-k (exactly the single-process result).",
        discussion: """
            For each block of states the item shards must be disjoint and cover the catalog, and the blocks must \
            cover states 0..<B; a missing or overlapping piece is an error naming the file.
            """)

    @Argument(help: "Partial files written by `reckit score --partial`.") var partials: [String]
    @Option(help: "Items per state (default: the partial files' k).") var k: Int?
    @Option(
        help: "The first state the pieces cover (default 0: all states; a block's first state merges that block alone)."
    )
    var firstState: Int = 0
    @OptionGroup var output: ScoreOutput

    func validate() throws {
        guard !partials.isEmpty else { throw ValidationError("give at least one partial file") }
        if let k { guard k >= 1 else { throw ValidationError("--k must be at least 1, got \(k)") } }
    }

    func run() throws {
        try runReporting {
            try checkOutputs(output.output)
            let t0 = DispatchTime.now().uptimeNanoseconds
            let parts = try partials.map { path throws(RecIOError) in (file: path, partial: try TopKPartial.read(path))
            }
            let merged = try TopKPartial.merge(parts, k: k, firstState: firstState)
            let ms = Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e6
            stderrLine(
                String(
                    format: "merged %ld partial files into the top-%ld of %ld states in %.1f ms", partials.count,
                    merged.k, merged.rows, ms))
            try output.write(merged, firstState: firstState)
        }
    }
}
