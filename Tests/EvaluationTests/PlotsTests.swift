import Foundation
import Plots
import TestSupport
import XCTest

/// SVG coordinates are written with two decimals; tick label positions add the baseline offset
/// 0.35 × 12 = 4.2 which is exact in decimal, so 0.011 px covers the rounding of both.
let pixelTolerance = 0.011

final class PlotsTests: XCTestCase {
    func testTicksAreRoundAndCoverTheData() {
        // Hand-worked: [0, 1] in ~5 steps → step 0.2; [3, 97] → step 20, axis 0…100; [-0.3, 0.7] → 0.2 from -0.4.
        let a = Ticks(lo: 0, hi: 1)
        XCTAssertEqual(a.step, 0.2, accuracy: 1e-12)
        XCTAssertEqual(a.values.map { a.label($0) }, ["0.0", "0.2", "0.4", "0.6", "0.8", "1.0"])
        let b = Ticks(lo: 3, hi: 97)
        XCTAssertEqual(b.step, 20); XCTAssertEqual(b.lo, 0); XCTAssertEqual(b.hi, 100)
        XCTAssertEqual(b.values.map { b.label($0) }, ["0", "20", "40", "60", "80", "100"])
        let c = Ticks(lo: -0.3, hi: 0.7)
        XCTAssertEqual(c.lo, -0.4, accuracy: 1e-12); XCTAssertEqual(c.hi, 0.8, accuracy: 1e-12)
        XCTAssertEqual(c.label(c.values[2]), "0.0")  // -0.4 + 2·0.2 = 1e-17, printed as 0
        // An integer axis (draft positions 1…2) keeps whole-number ticks instead of 0.2 steps.
        let e = Ticks(lo: 1, hi: 2, minStep: 1)
        XCTAssertEqual(e.values, [1, 2]); XCTAssertEqual(e.values.map { e.label($0) }, ["1", "2"])
        // A single value gets a non-empty axis around it.
        let d = Ticks(lo: 5, hi: 5)
        XCTAssertLessThan(d.lo, 5); XCTAssertGreaterThan(d.hi, 5)
        // Random intervals: the axis contains the data, the step is 1, 2 or 5 × 10^k, 2…11 intervals.
        var seed: UInt64 = 12345
        for _ in 0..<500 {
            seed = seed &* 6364136223846793005 &+ 1442695040888963407
            let x = Double(seed >> 11) / Double(1 << 53) * 2000 - 1000
            seed = seed &* 6364136223846793005 &+ 1442695040888963407
            let w = pow(10, Double(seed >> 11) / Double(1 << 53) * 8 - 4)
            let t = Ticks(lo: x, hi: x + w)
            XCTAssertLessThanOrEqual(t.lo, x); XCTAssertGreaterThanOrEqual(t.hi, x + w)
            let mantissa = t.step / pow(10, floor(log10(t.step) + 1e-9))
            XCTAssertTrue([1, 2, 5].contains { abs(mantissa - $0) < 1e-6 }, "step \(t.step)")
            XCTAssertTrue((2...11).contains(t.values.count - 1), "\(t.values.count - 1) intervals for [\(x), \(x + w)]")
        }
    }

    func testLinearScaleMapsEnds() {
        let s = LinearScale(lo: 2, hi: 6, rangeStart: 400, rangeEnd: 100)
        XCTAssertEqual(s(2), 400); XCTAssertEqual(s(6), 100); XCTAssertEqual(s(3), 325)
    }

    func testEscapingKeepsTheDocumentWellFormed() throws {
        var doc = SVGDocument(width: 100, height: 50)
        doc.text("a < b & \"c\" > 'd'", x: 1, y: 2)
        let root = try parseSVG(doc.render())
        XCTAssertEqual(root.elements("text").first?.text, "a < b & \"c\" > 'd'")
    }

    func testBarChartBarsSitOnTheAxisAndMatchTheTicks() throws {
        var chart = BarChart(title: "t <&>", xLabel: "task", yLabel: "alpha", categories: ["gsm8k", "xsum", "code"],
                             series: ["fkl", "adaspec"], values: [[0.5, 0.25, nil], [1.0, 0.75, 0.4]], yMax: 1)
        chart.referenceLine = 0.6
        chart.referenceLabel = "reference"
        let root = try parseSVG(chart.svg())
        let bars = root.elements("rect", class: "bar")
        XCTAssertEqual(bars.count, 5, "one bar per non-nil value")
        XCTAssertEqual(root.elements("g", class: "legend-entry").count, 3, "two series and the reference line")
        let reference = try XCTUnwrap(root.elements("line", class: "reference").first)
        XCTAssertEqual(try XCTUnwrap(reference.number("y1")), try tickPosition(root, axis: "y", label: "0.6"), accuracy: pixelTolerance)
        XCTAssertEqual(root.elements("text", class: "tick-x").map(\.text), ["gsm8k", "xsum", "code"])
        // Independent of the layout constants: a bar of value v reaches the y tick labelled v and
        // stands on the tick labelled 0.
        let zero = try tickPosition(root, axis: "y", label: "0.0")
        let expected: [(String, Double)] = [("fkl · gsm8k: 0.50", 0.5), ("fkl · xsum: 0.25", 0.25), ("adaspec · gsm8k: 1.00", 1.0),
                                            ("adaspec · xsum: 0.75", 0.75), ("adaspec · code: 0.40", 0.4)]
        let top = try tickPosition(root, axis: "y", label: "1.0")
        let tickOf = { (v: Double) -> Double in zero + (top - zero) * v }  // ticks are linear: checked at 0.2 steps below
        for label in ["0.2", "0.4", "0.6", "0.8"] {
            XCTAssertEqual(try tickPosition(root, axis: "y", label: label), tickOf(Double(label)!), accuracy: pixelTolerance)
        }
        for (title, v) in expected {
            let bar = try XCTUnwrap(bars.first { $0.children.first?.text == title }, "bar \(title)")
            let y = try XCTUnwrap(bar.number("y")), h = try XCTUnwrap(bar.number("height"))
            XCTAssertEqual(y + h, zero, accuracy: pixelTolerance, "\(title) stands on 0")
            XCTAssertEqual(y, tickOf(v), accuracy: pixelTolerance, "\(title) reaches \(v)")
        }
        // Bars of a category lie between its neighbours' label centres, in series order.
        let xs = root.elements("text", class: "tick-x").compactMap { $0.number("x") }
        let gsmFkl = try XCTUnwrap(bars.first { $0.children.first?.text == "fkl · gsm8k: 0.50" }?.number("x"))
        let gsmAda = try XCTUnwrap(bars.first { $0.children.first?.text == "adaspec · gsm8k: 1.00" }?.number("x"))
        XCTAssertLessThan(gsmFkl, xs[0]); XCTAssertGreaterThanOrEqual(gsmAda, xs[0] - 1); XCTAssertLessThan(gsmAda, xs[1])
    }

    func testLineChartPointsMatchBothAxes() throws {
        let chart = LineChart(title: "acceptance by position", xLabel: "position", yLabel: "rate",
                              series: [Series(name: "a", x: [1, 2, 3, 4], y: [0.8, 0.6, 0.4, 0.2]),
                                       Series(name: "b", x: [3, 1, 2], y: [0.5, 1.0, 0.0])],
                              xRange: 1...4, yRange: 0...1)
        let root = try parseSVG(chart.svg())
        let lines = root.elements("polyline", class: "series-line")
        XCTAssertEqual(lines.count, 2)
        XCTAssertEqual(root.elements("circle", class: "point").count, 7)
        XCTAssertEqual(root.elements("g", class: "legend-entry").count, 2)
        // Series b is drawn in x order: (1, 1.0), (2, 0.0), (3, 0.5).
        let b = try XCTUnwrap(lines.first { $0.children.first?.text == "b" })
        let pts = try XCTUnwrap(b.attributes["points"]).split(separator: " ").map { $0.split(separator: ",").map { Double($0)! } }
        XCTAssertEqual(pts.count, 3)
        // 0.5 has no tick: it lies halfway between the ticks 0.4 and 0.6.
        let y05 = (try tickPosition(root, axis: "y", label: "0.4") + tickPosition(root, axis: "y", label: "0.6")) / 2
        let expected: [(String, Double)] = [("1", try tickPosition(root, axis: "y", label: "1.0")),
                                            ("2", try tickPosition(root, axis: "y", label: "0.0")), ("3", y05)]
        for (p, (xl, y)) in zip(pts, expected) {
            XCTAssertEqual(p[0], try tickPosition(root, axis: "x", label: xl), accuracy: pixelTolerance)
            XCTAssertEqual(p[1], y, accuracy: pixelTolerance)
        }
    }

    func testScatterPointsLabelsAndIdentityLine() throws {
        let points = [ScatterChart.Point(label: "gsm8k", x: 1, y: 2, group: "fkl"),
                      ScatterChart.Point(label: "xsum", x: 1, y: 2, group: "adaspec"),
                      ScatterChart.Point(label: "code", x: 3, y: 1, group: "fkl")]
        let root = try parseSVG(ScatterChart(title: "s", xLabel: "predicted", yLabel: "measured", points: points,
                                             identityLine: true).svg())
        let circles = root.elements("circle", class: "point")
        XCTAssertEqual(circles.count, 3)
        XCTAssertEqual(root.elements("g", class: "legend-entry").count, 2, "two groups")
        let labels = root.elements("text", class: "point-label")
        XCTAssertEqual(labels.map(\.text), ["gsm8k", "xsum", "code"])
        // Two labels at the same point are moved apart.
        XCTAssertNotEqual(labels[0].number("y"), labels[1].number("y"))
        // Points sit at their tick positions.
        let c = try XCTUnwrap(circles.last)
        XCTAssertEqual(try XCTUnwrap(c.number("cx")), try tickPosition(root, axis: "x", label: "3.0"), accuracy: pixelTolerance)
        XCTAssertEqual(try XCTUnwrap(c.number("cy")), try tickPosition(root, axis: "y", label: "1.0"), accuracy: pixelTolerance)
        // The identity line runs through (v, v) at both ends.
        let line = try XCTUnwrap(root.elements("line", class: "identity").first)
        let x1 = try XCTUnwrap(line.number("x1")), y1 = try XCTUnwrap(line.number("y1"))
        let x2 = try XCTUnwrap(line.number("x2")), y2 = try XCTUnwrap(line.number("y2"))
        XCTAssertEqual(x1, try tickPosition(root, axis: "x", label: "1.0"), accuracy: pixelTolerance)
        XCTAssertEqual(y1, try tickPosition(root, axis: "y", label: "1.0"), accuracy: pixelTolerance)
        XCTAssertEqual(x2, try tickPosition(root, axis: "x", label: "3.0"), accuracy: pixelTolerance)
        XCTAssertEqual(y2, try tickPosition(root, axis: "y", label: "3.0"), accuracy: pixelTolerance)
    }

    /// rsvg-convert (librsvg) renders every chart kind: an external renderer's check (`Scripts/test`
    /// installs it; without it the test is a visible skip, and under `CI=true` a failure).
    func testRsvgConvertRendersTheCharts() throws {
        guard let rsvg = ["/usr/bin/rsvg-convert", "/usr/local/bin/rsvg-convert"].first(where: FileManager.default.isExecutableFile)
        else { try RealModels.missing("rsvg-convert not installed (apt-get install librsvg2-bin)") }
        let charts = [
            BarChart(title: "b", xLabel: "x", yLabel: "y", categories: ["a"], series: ["s"], values: [[0.3]]).svg(),
            LineChart(title: "l", xLabel: "x", yLabel: "y", series: [Series(name: "s", x: [0, 1], y: [1, 2])]).svg(),
            ScatterChart(title: "s", xLabel: "x", yLabel: "y", points: [.init(label: "p", x: 1, y: 1, group: "g")]).svg(),
        ]
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("plots-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        for (i, svg) in charts.enumerated() {
            let input = dir.appendingPathComponent("\(i).svg"), output = dir.appendingPathComponent("\(i).png")
            try Data(svg.utf8).write(to: input)
            let p = Process()
            p.executableURL = URL(fileURLWithPath: rsvg)
            p.arguments = ["-o", output.path, input.path]
            try p.run(); p.waitUntilExit()
            XCTAssertEqual(p.terminationStatus, 0, "rsvg-convert failed on chart \(i)")
            let png = try Data(contentsOf: output)
            XCTAssertEqual(Array(png.prefix(4)), [0x89, 0x50, 0x4E, 0x47], "PNG signature")
        }
    }
}
