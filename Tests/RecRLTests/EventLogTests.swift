import Foundation
import RecRL
import Testing
import _RecTestSupport

func tempFile(_ name: String, _ text: String) -> String {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("reckit-rl-tests-\(getpid())")
    try? FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    let p = dir.appendingPathComponent(name).path
    try! text.write(toFile: p, atomically: true, encoding: .utf8)
    return p
}

@Suite struct EventLogTests {
    @Test func genericCSVWithColumnsAndEventMap() throws {
        let p = tempFile(
            "events.csv",
            """
            user,ts,item,type,price
            u1,10,100,view,
            u1,11,200,buy,9.5
            u2,2024-01-01T00:00:00Z,100,view,
            u1,12,300,skipme,
            """)
        var cols = try EventColumns.parse("session=user,time=ts,item=item,event=type,price=price")
        cols.price = "price"
        let log = try EventLog.load(
            csv: p, columns: cols, events: try EventMapping.parse("view=click,buy=purchase,skipme=skip"))
        #expect(log.count == 3)
        #expect(log.eventTypes == ["click", "purchase"])
        #expect(log.sessionKeys == ["u1", "u2"] && log.itemKeys == ["100", "200"])
        #expect(log.prices![1] == 9.5 && log.prices![0].isNaN)
        #expect(log.times[2] == 1_704_067_200)
    }

    @Test func badInputNamesFileLineAndField() {
        let p = tempFile("bad.csv", "session_id,timestamp,item_id,event\ns1,1,5,click\ns1,oops,6,click\n")
        #expect(
            throws: RecRLError.malformed(
                file: p, line: 3, field: "timestamp", message: "'oops' is not a number or an ISO 8601 time")
        ) {
            try EventLog.load(csv: p)
        }
        let q = tempFile("unknown.csv", "session_id,timestamp,item_id,event\ns1,1,5,click\ns1,2,6,wishlist\n")
        #expect(throws: RecRLError.unknownEventType(file: q, line: 3, value: "wishlist", known: ["click"])) {
            try EventLog.load(csv: q, events: EventMapping(["click": "click"]))
        }
        let r = tempFile("nocol.csv", "sid,timestamp,item_id,event\n")
        #expect(
            throws: RecRLError.missingColumn(
                file: r, column: "session_id", header: ["sid", "timestamp", "item_id", "event"])
        ) {
            try EventLog.load(csv: r)
        }
        let e = tempFile("empty-field.csv", "session_id,timestamp,item_id,event\ns1,1,,click\n")
        #expect(throws: RecRLError.malformed(file: e, line: 2, field: "item_id", message: "empty")) {
            try EventLog.load(csv: e)
        }
        #expect(throws: RecRLError.self) { try EventLog.load(csv: "/nonexistent/file.csv") }
    }

    @Test func retailRocketEvents() throws {
        let p = tempFile(
            "rr.csv",
            """
            timestamp,visitorid,event,itemid,transactionid
            1433221332117,257597,view,355908,
            1433224214164,257597,addtocart,355908,
            1433221999827,257597,transaction,248676,4000
            """)
        let log = try EventLog.loadRetailRocket(p)
        #expect(log.eventTypes == ["click", "cart", "purchase"])
        #expect(log.count == 3 && log.sessionKeys == ["257597"])
        let bad = tempFile("rr-bad.csv", "timestamp,visitorid,event,itemid,transactionid\n1,2,wishlist,3,\n")
        #expect(
            throws: RecRLError.unknownEventType(
                file: bad, line: 2, value: "wishlist", known: ["addtocart", "transaction", "view"])
        ) {
            try EventLog.loadRetailRocket(bad)
        }
    }

    @Test func yooChooseClicksAndBuys() throws {
        let c = tempFile(
            "clicks.dat",
            "1,2014-04-07T10:51:09.277Z,214536502,0\n1,2014-04-07T10:54:09.868Z,214536500,0\n2,2014-04-07T13:56:37.614Z,214662742,0\n"
        )
        let b = tempFile("buys.dat", "1,2014-04-07T10:55:00.000Z,214536500,12462,1\n")
        let log = try EventLog.loadYooChoose(clicks: c, buys: b)
        #expect(log.count == 4 && log.eventTypes == ["click", "purchase"])
        #expect(log.prices![3] == 12462 && log.prices![0].isNaN)
    }

    @Test func movieLensFormats() throws {
        let map = try RatingMapping.parse("5=purchase,1-4=click")
        let inter = tempFile(
            "ml.inter",
            "user_id:token\titem_id:token\trating:float\ttimestamp:float\n196\t242\t3\t881250949\n196\t302\t5\t881250950\n"
        )
        let a = try EventLog.loadMovieLens(inter, ratings: map)
        #expect(a.count == 2 && a.eventTypes == ["click", "purchase"] && a.itemKeys == ["242", "302"])
        let udata = tempFile("u.data", "196\t242\t3\t881250949\n186\t302\t5\t891717742\n")
        #expect(try EventLog.loadMovieLens(udata, ratings: map).count == 2)
        let csv = tempFile("ratings.csv", "userId,movieId,rating,timestamp\n1,1,4.5,964982703\n1,3,5.0,964981247\n")
        let c = try EventLog.loadMovieLens(csv, ratings: try RatingMapping.parse("5=purchase,0.5-4.5=click"))
        #expect(c.eventTypes == ["click", "purchase"])
        let dat = tempFile("ratings.dat", "1::1193::5::978300760\n1::661::3::978302109\n")
        let d = try EventLog.loadMovieLens(dat, ratings: map)
        #expect(d.itemKeys == ["1193", "661"] && d.times[1] == 978_302_109)
        // A rating outside the map is an error naming the line.
        let odd = tempFile("odd.inter", "user_id:token\titem_id:token\trating:float\ttimestamp:float\n1\t2\t0\t5\n")
        #expect(throws: RecRLError.self) { try EventLog.loadMovieLens(odd, ratings: map) }
        do { _ = try EventLog.loadMovieLens(odd, ratings: map) } catch {
            #expect("\(error)".contains(":2: field rating"))
        }
    }
}

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

/// Hostile input, class "a directory where a file is expected": the RL readers refuse it with
/// a typed error naming the path once.
@Suite struct RLDirectoryInputTests {
    @Test func directoriesAreRefused() throws {
        let d = FileManager.default.temporaryDirectory.path
        func check(_ what: String, _ body: () throws -> Void) { expectDirectoryRefused(d, what, body) }
        check("EventLog.load") { _ = try EventLog.load(csv: d) }
        check("RetailRocket") { _ = try EventLog.loadRetailRocket(d) }
        check("YooChoose") { _ = try EventLog.loadYooChoose(clicks: d, buys: nil) }
        check("MovieLens") { _ = try EventLog.loadMovieLens(d, ratings: RatingMapping.parse("5=purchase,1-4=click")) }
        check("checkpoint") { _ = try SequentialRecommender.load(from: d) }
    }
}
