// The Plots module owns dependency-free SVG charts: grouped bars, lines, labelled scatter.

import Foundation

/// A grouped bar chart: categories along x (e.g. tasks), one bar per series in each category
/// (e.g. methods), bar heights on a linear y axis that starts at 0 (or at the data minimum when
/// it is negative).
///
/// `values[s][g]` is series s in category g; nil draws no bar. Each bar is a `<rect class="bar">`
/// with a `<title>` (the tooltip "series · category: value").
public struct BarChart {
    public var title: String
    public var xLabel: String
    public var yLabel: String
    public var categories: [String]
    public var series: [String]
    public var values: [[Double?]]
    /// Force the top of the y axis (e.g. 1 for rates); nil fits the data.
    public var yMax: Double?
    /// Print each bar's value above it (when the bars are wide enough).
    public var valueLabels = true
    public var valueFormat = "%.2f"
    /// A dashed horizontal line at this value (e.g. speedup 1, break-even), named `referenceLabel`
    /// in the legend.
    public var referenceLine: Double?
    public var referenceLabel = ""
    public var layout = ChartLayout()

    public init(title: String, xLabel: String, yLabel: String, categories: [String], series: [String], values: [[Double?]],
                yMax: Double? = nil) {
        precondition(values.count == series.count && values.allSatisfy { $0.count == categories.count },
                     "BarChart: values must be (series \(series.count)) × (categories \(categories.count))")
        self.title = title; self.xLabel = xLabel; self.yLabel = yLabel
        self.categories = categories; self.series = series; self.values = values; self.yMax = yMax
    }

    /// The y ticks: from min(0, data) to max(yMax, data).
    public var yTicks: Ticks {
        let data = values.flatMap { $0.compactMap { $0 } }.filter(\.isFinite)
        let lo = min(0, data.min() ?? 0)
        let hi = max(yMax ?? 0, data.max() ?? 1, referenceLine ?? 0, lo + 1e-9)
        return Ticks(lo: lo, hi: hi)
    }

    public func frame() -> ChartFrame {
        var legend = series.enumerated().map { LegendEntry(name: $1, color: Palette.color($0), marker: .square) }
        if referenceLine != nil { legend.append(LegendEntry(name: referenceLabel, color: "#555", marker: .line, dash: "6,4")) }
        return ChartFrame(layout: layout, legend: legend)
    }

    /// The SVG document.
    public func svg() -> String {
        let f = frame()
        var doc = SVGDocument(width: layout.width, height: layout.height)
        let ticks = yTicks
        let y = f.yScale(ticks)
        f.drawTitle(title, into: &doc)
        f.drawYAxis(ticks, label: yLabel, into: &doc)
        let G = max(categories.count, 1), S = max(series.count, 1)
        let groupWidth = f.plotWidth / Double(G)
        let barWidth = groupWidth * 0.8 / Double(S)
        var centers: [Double] = []
        for g in 0..<categories.count {
            let left = f.plotLeft + Double(g) * groupWidth + groupWidth * 0.1
            centers.append(f.plotLeft + (Double(g) + 0.5) * groupWidth)
            for s in 0..<series.count {
                guard let v = values[s][g], v.isFinite else { continue }
                let x = left + Double(s) * barWidth
                let top = y(max(v, 0)), bottom = y(min(v, 0))
                doc.rect(x: x + 1, y: top, width: barWidth - 2, height: bottom - top, fill: Palette.color(s), className: "bar",
                         title: "\(series[s]) · \(categories[g]): \(String(format: valueFormat, v))")
                if valueLabels && barWidth >= 26 {
                    doc.text(String(format: valueFormat, v), x: x + barWidth / 2, y: top - 4, size: layout.fontSize - 2,
                             anchor: .middle, fill: "#333", className: "value-label")
                }
            }
        }
        if let r = referenceLine, r.isFinite {
            doc.line(x1: f.plotLeft, y1: y(r), x2: f.plotRight, y2: y(r), stroke: "#555", width: 1.2, dash: "6,4", className: "reference")
        }
        f.drawCategories(categories, centers: centers, label: xLabel, into: &doc)
        f.drawLegend(into: &doc)
        return doc.render()
    }
}
