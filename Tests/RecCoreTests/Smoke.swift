import Testing
import RecCore
@Test func smoke() { #expect(Matrix.zeros(2, 3).count == 6) }
