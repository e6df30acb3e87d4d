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
