import RecCore

#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif
#if canImport(Glibc)
    import Glibc
#endif

/// One (state block, item shard) piece of a sharded top-k: the best `k` items of the shard for
/// each state of the block, in global ids, as `reckit score --partial` writes it and
/// `reckit score merge` reads it.
///
/// Layout: the line `RKTOPK01`, a one-line JSON header (`format`, `version`, `first_state`,
/// `states`, `k`, `first_item`, `items`, `catalog_size`, `states_hash`: the block's states and
/// exclusions, `checksum`: the arrays), then little-endian arrays: `states` Int32 counts,
/// `states × k` Int32 item ids (−1 in unused slots), `states × k` Float32 scores. Scores are
/// stored as bits, so the merge sees exactly what the shard computed.
public struct TopKPartial: Sendable, Equatable {
    /// Global index of the block's first state.
    public var firstState: Int
    /// Global id of the shard's first item.
    public var firstItem: Int
    /// Items in the shard.
    public var itemCount: Int
    /// The whole catalog's size.
    public var catalogSize: Int
    /// The block's top-k over the shard (global item ids).
    public var result: TopKResult
    /// A hash of the block's states and exclusions (`statesHash(_:exclusions:)`): the shards of one
    /// block must have scored the same states, in the same order.
    public var statesHash: UInt64

    /// A piece: the top-k of states `firstState...` over items `firstItem ..< firstItem + itemCount`.
    public init(
        firstState: Int, firstItem: Int, itemCount: Int, catalogSize: Int, result: TopKResult, statesHash: UInt64
    ) {
        self.firstState = firstState
        self.firstItem = firstItem
        self.itemCount = itemCount
        self.catalogSize = catalogSize
        self.result = result
        self.statesHash = statesHash
    }

    /// The hash a piece records of the states it scored (their bits, row by row) and of each
    /// state's excluded items.
    public static func statesHash(_ states: Matrix, exclusions: ExclusionSet? = nil) -> UInt64 {
        var h = StableHash.words([UInt64(states.rows), UInt64(states.cols)])
        for r in 0..<states.rows {
            for c in 0..<states.cols { h = StableHash.mix(h ^ UInt64(states[r, c].bitPattern)) }
            if let e = exclusions {
                h = StableHash.words(e.items(row: r).map { UInt64(bitPattern: Int64($0)) }, seed: h)
            }
        }
        return h
    }

    static let magic = Array("RKTOPK01\n".utf8)

    struct Header: Codable {
        var format = "reckit-topk-partial"
        var version = 2
        var first_state: Int
        var states: Int
        var k: Int
        var first_item: Int
        var items: Int
        var catalog_size: Int
        var states_hash: String
        var checksum: String
    }

    /// The arrays' bytes.
    func payload() -> Data {
        var out = Data()
        func put(_ v: UInt32) { withUnsafeBytes(of: v.littleEndian) { out.append(contentsOf: $0) } }
        for c in result.counts { put(UInt32(c)) }
        for i in result.indices { put(UInt32(bitPattern: i)) }
        for s in result.scores { put(s.bitPattern) }
        return out
    }

    /// The file's bytes.
    public func encoded() -> Data {
        let body = payload()
        let h = Header(
            first_state: firstState, states: result.rows, k: result.k, first_item: firstItem,
            items: itemCount, catalog_size: catalogSize, states_hash: String(statesHash, radix: 16),
            checksum: String(StableHash.bytes(body), radix: 16))
        var out = Data(Self.magic)
        out.append(try! JSONEncoder().encode(h))  // integers and fixed strings only: cannot fail
        out.append(10)
        out.append(body)
        return out
    }

    /// Writes the file atomically.
    public func write(to path: String) throws(RecIOError) { try AtomicFile.write(encoded(), to: path) }

    /// Reads and checks a partial file.
    /// - Throws: `.cannotOpen`, or `.malformed` naming the file for a foreign or truncated file,
    ///   a header out of range, ids outside the shard, or rows not in top-k order.
    public static func read(_ path: String) throws(RecIOError) -> TopKPartial {
        try decode(try FileInput.contents(path), file: path)
    }

    /// Reads a piece from bytes as `read` does (`file` names it in errors).
    /// `verifyingChecksum: false` skips the arrays' checksum (for inspecting a damaged file, and
    /// for the fuzzer to reach the checks after it); every other check still runs.
    /// - Throws: as `read`.
    public static func decode(_ data: Data, file: String, verifyingChecksum: Bool = true) throws(RecIOError)
        -> TopKPartial
    {
        func bad(_ m: String) -> RecIOError { .malformed(file: file, line: 0, field: nil, message: m) }
        let bytes = [UInt8](data)
        guard bytes.count > magic.count, Array(bytes[0..<magic.count]) == magic else {
            throw bad("not a RecKit top-k partial file (reckit score --partial writes them)")
        }
        guard let nl = bytes[magic.count...].firstIndex(of: 10) else { throw bad("truncated header") }
        guard let h = try? JSONDecoder().decode(Header.self, from: Data(bytes[magic.count..<nl])),
            h.format == "reckit-topk-partial"
        else { throw bad("damaged header") }
        guard h.version == 2 else { throw bad("version \(h.version); this RecKit reads version 2") }
        guard let statesHash = UInt64(h.states_hash, radix: 16) else { throw bad("damaged header (states_hash)") }
        guard !verifyingChecksum || String(StableHash.bytes(bytes[(nl + 1)...]), radix: 16) == h.checksum else {
            throw bad(
                "damaged or edited (its checksum does not match its content; write it again with reckit score --partial)"
            )
        }
        let maxId = Int(Int32.max)
        guard h.first_state >= 0, h.states >= 0, h.k >= 1, h.first_item >= 0, h.items >= 0,
            h.catalog_size <= maxId, h.first_item <= h.catalog_size - h.items, h.first_state <= maxId,
            h.states <= maxId
        else {
            throw bad(
                "header out of range (states \(h.first_state)+\(h.states), k \(h.k), items \(h.first_item)+\(h.items) of \(h.catalog_size))"
            )
        }
        guard let cells = MemoryBudget.product([h.states, h.k]),
            let need = MemoryBudget.sum([MemoryBudget.product([h.states, 4]), MemoryBudget.product([cells, 8])]),
            bytes.count - nl - 1 == need
        else {
            throw bad(
                "\(bytes.count - nl - 1) data bytes; the header asks for \(h.states) states × k=\(h.k) (truncated or damaged)"
            )
        }
        var p = nl + 1
        func next() -> UInt32 {
            let v =
                UInt32(bytes[p]) | UInt32(bytes[p + 1]) << 8 | UInt32(bytes[p + 2]) << 16 | UInt32(bytes[p + 3]) << 24
            p += 4
            return v
        }
        let counts = (0..<h.states).map { _ in Int(next()) }
        let ids = (0..<cells).map { _ in Int32(bitPattern: next()) }
        let scores = (0..<cells).map { _ in Float(bitPattern: next()) }
        let shard = h.first_item..<(h.first_item + h.items)
        for r in 0..<h.states {
            guard counts[r] <= min(h.k, h.items) else {
                throw bad("state \(h.first_state + r): \(counts[r]) items for k=\(h.k)")
            }
            for j in 0..<h.k {
                let c = r * h.k + j
                if j >= counts[r] {
                    guard ids[c] == -1 else { throw bad("state \(h.first_state + r): an item in an unused slot") }
                    continue
                }
                guard shard.contains(Int(ids[c])) else {
                    throw bad(
                        "state \(h.first_state + r): item \(ids[c]) outside the shard \(shard.lowerBound)..<\(shard.upperBound)"
                    )
                }
                if j > 0 && !ranksAbove(scores[c - 1], ids[c - 1], scores[c], ids[c]) {
                    throw bad("state \(h.first_state + r): items not in top-k order at rank \(j + 1)")
                }
            }
            let row = ids[(r * h.k)..<(r * h.k + counts[r])]
            if Set(row).count != row.count {
                throw bad("state \(h.first_state + r): an item appears twice in its top-\(h.k)")
            }
        }
        return TopKPartial(
            firstState: h.first_state, firstItem: h.first_item, itemCount: h.items, catalogSize: h.catalog_size,
            result: TopKResult(rows: h.states, k: h.k, counts: counts, indices: ids, scores: scores),
            statesHash: statesHash)
    }

    /// Merges partial files into the whole top-k: per state block, the shards must be disjoint
    /// and cover the catalog; the blocks must be disjoint and cover states `firstState..<B`
    /// (`firstState` is 0 for the whole result; a block's own first state merges one block).
    /// - Returns: the top-`k` of every state from `firstState` on, in global state order.
    /// - Throws: `.malformed` naming the files that disagree (k, catalog size), overlap or leave
    ///   items or states out.
    public static func merge(
        _ parts: [(file: String, partial: TopKPartial)], k: Int? = nil,
        firstState: Int = 0
    ) throws(RecIOError) -> TopKResult {
        guard let first = parts.first else {
            throw .malformed(file: "(no files)", line: 0, field: nil, message: "nothing to merge")
        }
        func bad(_ f: String, _ m: String) -> RecIOError { .malformed(file: f, line: 0, field: nil, message: m) }
        let kk = k ?? first.partial.result.k
        for p in parts {
            guard p.partial.catalogSize == first.partial.catalogSize else {
                throw bad(
                    p.file,
                    "catalog of \(p.partial.catalogSize) items, but \(first.file) has \(first.partial.catalogSize)")
            }
            guard p.partial.result.k >= min(kk, p.partial.itemCount) else {
                throw bad(
                    p.file,
                    "holds the top \(p.partial.result.k) of its shard; merging to k=\(kk) needs at least that many")
            }
        }
        // Group by state block.
        var blocks = [Int: [(file: String, partial: TopKPartial)]]()
        for p in parts { blocks[p.partial.firstState, default: []].append(p) }
        var rowsOut = [TopKResult]()
        var nextState = firstState
        for start in blocks.keys.sorted() {
            let group = blocks[start]!.sorted { $0.partial.firstItem < $1.partial.firstItem }
            guard start == nextState else {
                throw bad(
                    group[0].file,
                    start < nextState
                        ? "states \(start)... overlap an earlier block"
                        : "states \(nextState)..<\(start) are in no partial file")
            }
            let rows = group[0].partial.result.rows
            var nextItem = 0
            for g in group {
                guard g.partial.statesHash == group[0].partial.statesHash else {
                    throw bad(
                        g.file,
                        "scored other states (or other exclusions, or the states in another order) than \(group[0].file) for the block at state \(start)"
                    )
                }
                guard g.partial.result.rows == rows else {
                    throw bad(
                        g.file,
                        "block at state \(start) has \(g.partial.result.rows) states, but \(group[0].file) has \(rows)")
                }
                guard g.partial.firstItem == nextItem else {
                    throw bad(
                        g.file,
                        g.partial.firstItem < nextItem
                            ? "items \(g.partial.firstItem)... overlap another shard of the states at \(start)"
                            : "items \(nextItem)..<\(g.partial.firstItem) are in no shard for the states at \(start) (a shard is missing)"
                    )
                }
                nextItem += g.partial.itemCount
            }
            guard nextItem == first.partial.catalogSize else {
                throw bad(
                    group.last!.file,
                    "items \(nextItem)..<\(first.partial.catalogSize) are in no shard for the states at \(start) (a shard is missing)"
                )
            }
            do { rowsOut.append(try TopKResult.merge(group.map(\.partial.result), k: kk)) } catch {
                throw bad(group[0].file, error.description)
            }
            nextState = start + rows
        }
        // Concatenate the blocks' rows.
        let width = rowsOut.map(\.k).max() ?? kk
        var counts = [Int]()
        var ids = [Int32]()
        var scores = [Float]()
        for b in rowsOut {
            for r in 0..<b.rows {
                counts.append(b.counts[r])
                ids += b.items(row: r) + [Int32](repeating: -1, count: width - b.counts[r])
                scores += b.scores(row: r) + [Float](repeating: .nan, count: width - b.counts[r])
            }
        }
        return TopKResult(rows: counts.count, k: width, counts: counts, indices: ids, scores: scores)
    }
}
