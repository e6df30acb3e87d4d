import Foundation
import RecCore
import Testing
import _RecTestSupport

@Suite struct TopKTests {
    func check(_ r: TopKResult, row: Int, against ref: [(Int32, Float)], _ note: String = "") {
        #expect(r.counts[row] == ref.count, "\(note) row \(row): count \(r.counts[row]) vs \(ref.count)")
        let items = Array(r.items(row: row))
        let scores = Array(r.scores(row: row))
        #expect(items == ref.map { $0.0 }, "\(note) row \(row): items differ")
        let same = zip(scores, ref.map { $0.1 }).allSatisfy { $0 == $1 || ($0.isNaN && $1.isNaN) }
        #expect(same, "\(note) row \(row): scores differ")
    }

    @Test(arguments: [1, 2, 10, 64, 100, 1000, 1500])
    func matchesFullSort(k: Int) throws {
        for n in [1, 15, 16, 17, 100, 2000] {
            let rows = 3
            // Quantised scores make ties common.
            let x = randomFloats(rows * n, seed: UInt64(n * 31 + k)).map { ($0 * 4).rounded() / 4 }
            let r = try TopK.select(Matrix(rows: rows, cols: n, elements: x), k: k, parallelism: .threads(2))
            #expect(r.k == min(k, n))
            for row in 0..<rows {
                check(r, row: row, against: naiveTopK(Array(x[(row * n)..<((row + 1) * n)]), k: k), "n=\(n) k=\(k)")
            }
        }
    }

    @Test func orderOfSpecialValues() throws {
        let x: [Float] = [1, .nan, .infinity, -.infinity, 3, .nan, 3, -2]
        let r = try TopK.select(x, k: 8)
        #expect(r.map { $0.item } == [2, 4, 6, 0, 7, 3, 1, 5])
        // NaN never outranks a number even when k exceeds the number of numbers.
        let mostlyNaN = [Float](repeating: .nan, count: 100) + [-1e30] + [Float](repeating: .nan, count: 100)
        #expect(try TopK.select(mostlyNaN, k: 3).map { $0.item } == [100, 0, 1])
        // A NaN at the front of a long row must not block later numbers.
        let front = [Float.nan] + randomFloats(500, seed: 3)
        let ref = naiveTopK(front, k: 5)
        #expect(try TopK.select(front, k: 5).map { Int32($0.item) } == ref.map { $0.0 })
    }

    @Test func allEqual() throws {
        let r = try TopK.select([Float](repeating: 2, count: 300), k: 4)
        #expect(r.map { $0.item } == [0, 1, 2, 3])
    }

    @Test func exclusions() throws {
        let n = 300
        let x = randomFloats(2 * n, seed: 9)
        let ex = ExclusionSet([[5, 1, 5, 299, 150], Array(0..<298)])
        let r = try TopK.select(Matrix(rows: 2, cols: n, elements: x), k: 10, excluding: ex)
        check(r, row: 0, against: naiveTopK(Array(x[0..<n]), k: 10, excluding: [1, 5, 150, 299]))
        // Fewer items than k remain: the row is short, padded with -1.
        #expect(r.counts[1] == 2)
        #expect(Set(r.items(row: 1)) == [298, 299])
        #expect(r.indices[10 + 2] == -1)
    }

    @Test func badArguments() throws {
        let m = Matrix([[1, 2, 3]])
        #expect(throws: RecCoreError.invalidArgument("top-k: k must be at least 1, got 0")) { try TopK.select(m, k: 0) }
        #expect(throws: RecCoreError.self) { try TopK.select(m, k: -3) }
        #expect(throws: RecCoreError.itemOutOfRange(row: 0, item: 3, catalogSize: 3)) {
            try TopK.select(m, k: 1, excluding: ExclusionSet([[0, 3]]))
        }
        #expect(throws: RecCoreError.itemOutOfRange(row: 0, item: -1, catalogSize: 3)) {
            try TopK.select(m, k: 1, excluding: ExclusionSet([[-1]]))
        }
        #expect(throws: RecCoreError.self) { try TopK.select(m, k: 1, excluding: ExclusionSet([[0], [1]])) }
        // k > N returns N.
        #expect(try TopK.select(m, k: 10).k == 3)
    }

    @Test func emptyInputs() throws {
        let r = try TopK.select(Matrix(rows: 0, cols: 5), k: 3)
        #expect(r.rows == 0 && r.indices.isEmpty)
        let e = try TopK.select(Matrix(rows: 2, cols: 0), k: 3)
        #expect(e.counts == [0, 0])
    }

    /// `reckit score --format json`'s rows: the library's Codable types, in the layout the
    /// README documents.
    @Test func scoredStatesJSON() throws {
        let m = Matrix(rows: 2, cols: 3, elements: [1, 3, 2, 0.5, -1, 0.25])
        let r = try TopK.select(m, k: 2)
        let rows = r.scoredStates(firstState: 10)
        #expect(
            rows == [
                ScoredState(state: 10, top: [ScoredItem(item: 1, score: 3), ScoredItem(item: 2, score: 2)]),
                ScoredState(state: 11, top: [ScoredItem(item: 0, score: 0.5), ScoredItem(item: 2, score: 0.25)]),
            ])
        let e = JSONEncoder()
        e.outputFormatting = .sortedKeys
        let text = String(decoding: try e.encode(rows), as: UTF8.self)
        #expect(
            text
                == #"[{"state":10,"top":[{"item":1,"score":3},{"item":2,"score":2}]},{"state":11,"top":[{"item":0,"score":0.5},{"item":2,"score":0.25}]}]"#
        )
        #expect(try JSONDecoder().decode([ScoredState].self, from: Data(text.utf8)) == rows)
    }
}
