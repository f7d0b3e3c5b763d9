import Foundation

/// A named sequence of (x, y) points.
public struct Series: Equatable, Sendable {
    public var name: String
    public var points: [Point]
    public struct Point: Equatable, Sendable {
        public var x: Double, y: Double
        public init(x: Double, y: Double) { self.x = x; self.y = y }
    }
    public init(name: String, points: [Point]) { self.name = name; self.points = points }
    /// A series from parallel x and y arrays.
    public init(name: String, x: [Double], y: [Double]) {
        precondition(x.count == y.count, "Series \(name): \(x.count) x values but \(y.count) y values")
        self.init(name: name, points: zip(x, y).map { Point(x: $0, y: $1) })
    }
}

/// A line chart with several series on shared linear axes. Each series is one
/// `<polyline class="series-line">` through its finite points (sorted by x); with
/// ``markers`` every point is also a `<circle class="point">`.
public struct LineChart {
    public var title: String
    public var xLabel: String
    public var yLabel: String
    public var series: [Series]
    /// Fixed axis ends; nil fits the data (the y axis of rates usually wants 0...1).
    public var xRange: ClosedRange<Double>?
    /// Ticks on whole numbers only (counts, positions, steps).
    public var integerX = false
    public var yRange: ClosedRange<Double>?
    /// Dots at the data points (useful for few points, noise for thousands).
    public var markers: Bool
    public var layout = ChartLayout()

    public init(title: String, xLabel: String, yLabel: String, series: [Series], xRange: ClosedRange<Double>? = nil,
                yRange: ClosedRange<Double>? = nil, markers: Bool = true) {
        self.title = title; self.xLabel = xLabel; self.yLabel = yLabel; self.series = series
        self.xRange = xRange; self.yRange = yRange; self.markers = markers
    }

    private var finitePoints: [Series.Point] { series.flatMap(\.points).filter { $0.x.isFinite && $0.y.isFinite } }

    public var xTicks: Ticks {
        if let r = xRange { return Ticks(lo: r.lowerBound, hi: r.upperBound, minStep: integerX ? 1 : 0) }
        let xs = finitePoints.map(\.x)
        return Ticks(lo: xs.min() ?? 0, hi: xs.max() ?? 1, minStep: integerX ? 1 : 0)
    }

    public var yTicks: Ticks {
        if let r = yRange { return Ticks(lo: r.lowerBound, hi: r.upperBound) }
        let ys = finitePoints.map(\.y)
        return Ticks(lo: ys.min() ?? 0, hi: ys.max() ?? 1)
    }

    public func frame() -> ChartFrame {
        ChartFrame(layout: layout, legend: series.enumerated().map {
            LegendEntry(name: $1.name, color: Palette.color($0), marker: .line, dash: Palette.dash($0))
        })
    }

    public func svg() -> String {
        let f = frame()
        var doc = SVGDocument(width: layout.width, height: layout.height)
        let xt = xTicks, yt = yTicks
        let x = f.xScale(xt), y = f.yScale(yt)
        f.drawTitle(title, into: &doc)
        f.drawYAxis(yt, label: yLabel, into: &doc)
        f.drawXAxis(xt, label: xLabel, into: &doc)
        for (i, s) in series.enumerated() {
            let pts = s.points.filter { $0.x.isFinite && $0.y.isFinite }.sorted { $0.x < $1.x }
            let pixels = pts.map { (x: x($0.x), y: y($0.y)) }
            if pixels.count >= 2 {
                doc.polyline(pixels, stroke: Palette.color(i), width: 2, dash: Palette.dash(i), className: "series-line", title: s.name)
            }
            if markers || pixels.count == 1 {
                for (p, d) in zip(pixels, pts) {
                    doc.circle(cx: p.x, cy: p.y, r: 3.5, fill: Palette.color(i), className: "point",
                               title: "\(s.name): (\(fmt(d.x)), \(fmt(d.y)))")
                }
            }
        }
        f.drawLegend(into: &doc)
        return doc.render()
    }
}

/// A number for a tooltip: up to 4 significant decimals.
func fmt(_ v: Double) -> String { String(format: "%.4g", v) }
