import Foundation

/// A scatter plot of labelled points, coloured by group, with an optional y = x reference line
/// (for "predicted against measured" comparisons). Points are `<circle class="point">`, labels
/// `<text class="point-label">` just right of their point.
public struct ScatterChart {
    public struct Point: Equatable, Sendable {
        public var label: String
        public var x: Double, y: Double
        /// Legend group (colour); points of one group share a colour.
        public var group: String
        public init(label: String, x: Double, y: Double, group: String) {
            self.label = label; self.x = x; self.y = y; self.group = group
        }
    }

    public var title: String
    public var xLabel: String
    public var yLabel: String
    public var points: [Point]
    /// Draw the diagonal y = x (dashed) across the shared part of both axes.
    public var identityLine: Bool
    public var layout = ChartLayout()

    public init(title: String, xLabel: String, yLabel: String, points: [Point], identityLine: Bool = false) {
        self.title = title; self.xLabel = xLabel; self.yLabel = yLabel; self.points = points; self.identityLine = identityLine
    }

    /// Groups in order of first appearance.
    public var groups: [String] {
        var seen: [String] = []
        for p in points where !seen.contains(p.group) { seen.append(p.group) }
        return seen
    }

    private var finite: [Point] { points.filter { $0.x.isFinite && $0.y.isFinite } }

    /// Axis ticks; with the identity line both axes span the union of the x and y data, so the
    /// diagonal runs corner to corner.
    public var ticks: (x: Ticks, y: Ticks) {
        let xs = finite.map(\.x), ys = finite.map(\.y)
        if identityLine {
            let all = xs + ys
            let t = Ticks(lo: all.min() ?? 0, hi: all.max() ?? 1)
            return (t, t)
        }
        return (Ticks(lo: xs.min() ?? 0, hi: xs.max() ?? 1), Ticks(lo: ys.min() ?? 0, hi: ys.max() ?? 1))
    }

    public func frame() -> ChartFrame {
        ChartFrame(layout: layout, legend: groups.enumerated().map { LegendEntry(name: $1, color: Palette.color($0), marker: .dot) })
    }

    public func svg() -> String {
        let f = frame()
        var doc = SVGDocument(width: layout.width, height: layout.height)
        let (xt, yt) = ticks
        let x = f.xScale(xt), y = f.yScale(yt)
        f.drawTitle(title, into: &doc)
        f.drawYAxis(yt, label: yLabel, into: &doc)
        f.drawXAxis(xt, label: xLabel, into: &doc)
        if identityLine {
            let lo = max(xt.lo, yt.lo), hi = min(xt.hi, yt.hi)
            if hi > lo {
                doc.line(x1: x(lo), y1: y(lo), x2: x(hi), y2: y(hi), stroke: "#999", width: 1.2, dash: "5,4", className: "identity")
            }
        }
        let groupIndex = Dictionary(uniqueKeysWithValues: groups.enumerated().map { ($1, $0) })
        for p in finite {
            let color = Palette.color(groupIndex[p.group] ?? 0)
            doc.circle(cx: x(p.x), cy: y(p.y), r: 5, fill: color, stroke: "#ffffff", className: "point",
                       title: "\(p.group) \(p.label): (\(fmt(p.x)), \(fmt(p.y)))")
        }
        // Labels right of their points (left of them when they would cross the plot's right
        // edge), moved down (then up) past labels already placed when their boxes would overlap
        // (estimated text width: 0.6 × font size per character).
        let size = layout.fontSize - 1
        let right = x(xt.hi)
        var placed: [(x0: Double, x1: Double, y0: Double, y1: Double)] = []
        for p in finite {
            let w = Double(p.label.count) * size * 0.6
            let flip = x(p.x) + 8 + w > right
            let lx = flip ? x(p.x) - 8 - w : x(p.x) + 8
            var ly = y(p.y) + 4
            for attempt in 0..<12 {
                let box = (x0: lx, x1: lx + w, y0: ly - size, y1: ly + 2)
                if !placed.contains(where: { $0.x0 < box.x1 && box.x0 < $0.x1 && $0.y0 < box.y1 && box.y0 < $0.y1 }) { break }
                ly = y(p.y) + 4 + Double((attempt + 2) / 2) * (size + 2) * (attempt % 2 == 0 ? 1 : -1)
            }
            placed.append((lx, lx + w, ly - size, ly + 2))
            doc.text(p.label, x: lx, y: ly, size: size, fill: "#333", className: "point-label")
        }
        f.drawLegend(into: &doc)
        return doc.render()
    }
}
