import Foundation
import RecCore
import RecIO
import Testing

/// Class: sizes from outside checked before allocation, with the bytes they would take.
@Suite struct MemoryBudgetTests {
    @Test func productsAndSumsReportOverflow() {
        #expect(MemoryBudget.product([1 << 20, 1 << 20, 4]) == 1 << 42)
        #expect(MemoryBudget.product([1 << 62, 4]) == nil)
        #expect(MemoryBudget.product([3, -1]) == nil)
        #expect(MemoryBudget.sum([1, nil]) == nil && MemoryBudget.sum([Int.max, 1]) == nil)
        #expect(MemoryBudget.bytes(rows: 10, columns: [64, 2]) == 10 * 66 * 4)
        #expect(MemoryBudget.bytes(rows: 2, columns: [Int.max, 2]) == nil)
    }

    @Test func checkNamesTheBytes() throws {
        #expect {
            try MemoryBudget.check(
                "the catalog (--items 100000000000 × --dim 64 floats)",
                bytes: MemoryBudget.product([100_000_000_000, 64, 4]), limit: 24 << 30)
        } throws: { error in
            "\(error)"
                == "the catalog (--items 100000000000 × --dim 64 floats) would take 25.6 TB (25600000000000 bytes), "
                + "more than this machine's 25.8 GB of memory"
        }
        #expect(throws: MemoryBudgetError.self) { try MemoryBudget.check("x", bytes: nil) }
        try MemoryBudget.check("a small thing", bytes: 1 << 20)
        #expect(MemoryBudget.physicalBytes > 1 << 28)
    }
}
