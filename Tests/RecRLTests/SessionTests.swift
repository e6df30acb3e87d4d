import Foundation
import RecRL
import Testing
import _RecTestSupport

@Suite struct SessionTests {
    func sampleLog() throws -> EventLog {
        // Session b has events out of time order, item "10" sorts after "9" numerically.
        try EventLog(
            sessions: ["b", "b", "b", "a", "a", "a", "c", "c", "b"],
            times: [3, 1, 2, 5, 5, 6, 1, 2, 4],
            items: ["10", "9", "rare", "10", "9", "10", "9", "10", "9"],
            events: ["click", "click", "click", "click", "purchase", "click", "click", "click", "purchase"])
    }

    @Test func filtersSortsAndEncodes() throws {
        let s = try SessionData(try sampleLog(), preprocessing: Preprocessing(minItemCount: 2, minSessionLength: 3))
        // "rare" (1 event) goes first; then c (2 events) goes.
        #expect(s.itemKeys == ["9", "10"] && s.itemCount == 2)
        #expect(s.sessionKeys == ["a", "b"])
        // a: time 5 has items 10 and 9 -> by item id: 9 (id 1) then 10 (id 2); then 10.
        #expect(Array(s.items[s.range(0)]) == [1, 2, 2])
        #expect(Array(s.items[s.range(1)]) == [1, 2, 1])
        #expect(s.events[s.range(0)].map { s.eventTypes[Int($0)] } == ["purchase", "click", "click"])
        #expect(throws: RecRLError.self) {
            try SessionData(try sampleLog(), preprocessing: Preprocessing(minItemCount: 100))
        }
    }

    @Test func randomSplitIsSeededAndProportional() {
        let a = SessionSplit.random(sessions: 1000, seed: 7)
        let b = SessionSplit.random(sessions: 1000, seed: 7)
        #expect(a.train == b.train && a.test == b.test)
        #expect(a.train.count == 800 && a.validation.count == 100 && a.test.count == 100)
        #expect(Set(a.train + a.validation + a.test).count == 1000)
        #expect(SessionSplit.random(sessions: 1000, seed: 8).train != a.train)
    }

    @Test func splitFileRoundTripAndErrors() throws {
        let s = try SessionData(try sampleLog(), preprocessing: Preprocessing(minItemCount: 1, minSessionLength: 1))
        let split = SessionSplit(train: [0, 1], validation: [2], test: [])
        let p = FileManager.default.temporaryDirectory.appendingPathComponent("split-\(getpid()).csv").path
        try split.write(p, data: s)
        let back = try SessionSplit.load(p, for: s)
        #expect(back.train == [0, 1] && back.validation == [2] && back.test.isEmpty)
        let partial = tempFile("partial.csv", "a,train\nb,test\n")
        #expect(
            throws: RecRLError.split(
                file: partial, line: nil, message: "1 session(s) of the data are not listed, e.g. 'c'")
        ) {
            try SessionSplit.load(partial, for: s)
        }
        let badName = tempFile("badname.csv", "session,split\na,train\nb,holdout\n")
        #expect(
            throws: RecRLError.split(file: badName, line: 3, message: "split 'holdout' is not train, valid or test")
        ) {
            try SessionSplit.load(badName, for: s)
        }
    }

    @Test func transitionsStatesRewardsAndDone() throws {
        let log = try EventLog(
            sessions: ["s", "s", "s", "t", "t", "t"], times: [1, 2, 3, 1, 2, 3],
            items: ["1", "2", "3", "3", "2", "1"],
            events: ["click", "purchase", "click", "click", "click", "purchase"],
            prices: [0, 9, 0, 0, 0, .nan])
        let data = try SessionData(log)
        var table = RewardTable.standard
        let tr = try Transitions(data, length: 2, rewards: table, gamma: 0.5)
        #expect(tr.count == 6)
        #expect(tr.state(0) == [0, 0] && tr.nextState(0) == [1, 0] && tr.action(0) == 1)
        #expect(tr.state(2) == [1, 2] && tr.nextState(2) == [2, 3] && tr.done[2] && !tr.done[1])
        #expect(tr.rewards[0] == 0.2 && tr.rewards[1] == 1.0)
        table.priceScaling = .log
        let priced = try Transitions(data, length: 2, rewards: table)
        #expect(abs(priced.rewards[1] - log1p(9)) < 1e-6 && priced.rewards[5] == 1.0)
        #expect(throws: RecRLError.missingReward(eventType: "purchase", table: ["click"])) {
            try Transitions(data, rewards: RewardTable(["click": 0.2]))
        }
    }
}
