import Foundation

/// Size and margins of a chart; the plot area is what remains inside the margins.
public struct ChartLayout: Equatable, Sendable {
    public var width: Double = 760
    public var height: Double = 440
    /// Space for the title (top), the y tick labels and y label (left), the x tick labels and x
    /// label (bottom) and breathing room (right, before the legend).
    public var top: Double = 48, left: Double = 72, bottom: Double = 60, right: Double = 20
    public var fontSize: Double = 12
    public init() {}
}

/// One legend row: a coloured swatch (a bar square, a line or a dot) and the series name.
public struct LegendEntry: Equatable, Sendable {
    public enum Marker: Sendable { case square, line, dot }
    public var name: String
    public var color: String
    public var marker: Marker
    /// Dash pattern of a line marker (SVG `stroke-dasharray`), nil for solid.
    public var dash: String?
    public init(name: String, color: String, marker: Marker, dash: String? = nil) {
        self.name = name; self.color = color; self.marker = marker; self.dash = dash
    }
}

/// The parts every chart shares: the plot rectangle (after reserving a legend column on the
/// right), title, axes with ticks and grid lines, axis labels and the legend.
///
/// Text width is estimated as 0.6 × font size per character (no font metrics without
/// dependencies); it only sizes the legend column.
public struct ChartFrame {
    public let layout: ChartLayout
    /// The plot area in pixels.
    public let plotLeft: Double, plotTop: Double, plotRight: Double, plotBottom: Double
    public let legend: [LegendEntry]

    public init(layout: ChartLayout, legend: [LegendEntry]) {
        self.layout = layout
        self.legend = legend
        let longest = legend.map(\.name.count).max() ?? 0
        let legendWidth = legend.isEmpty ? 0 : min(layout.width * 0.35, 36 + Double(longest) * layout.fontSize * 0.6)
        plotLeft = layout.left
        plotTop = layout.top
        plotRight = max(layout.left + 40, layout.width - layout.right - legendWidth)
        plotBottom = max(layout.top + 40, layout.height - layout.bottom)
    }

    public var plotWidth: Double { plotRight - plotLeft }
    public var plotHeight: Double { plotBottom - plotTop }

    /// The y scale of `ticks` over the plot area (bottom → top).
    public func yScale(_ ticks: Ticks) -> LinearScale {
        LinearScale(lo: ticks.lo, hi: ticks.hi, rangeStart: plotBottom, rangeEnd: plotTop)
    }

    /// The x scale of `ticks` over the plot area (left → right).
    public func xScale(_ ticks: Ticks) -> LinearScale {
        LinearScale(lo: ticks.lo, hi: ticks.hi, rangeStart: plotLeft, rangeEnd: plotRight)
    }

    /// Title (centred above the plot area).
    public func drawTitle(_ title: String, into doc: inout SVGDocument) {
        doc.text(title, x: (plotLeft + plotRight) / 2, y: layout.top / 2 + 5, size: layout.fontSize + 3, anchor: .middle,
                 weight: "bold", className: "title")
    }

    /// Horizontal grid lines, y tick labels (class `tick-y`), the y axis line and the rotated y label.
    public func drawYAxis(_ ticks: Ticks, label: String, into doc: inout SVGDocument) {
        let y = yScale(ticks)
        for v in ticks.values {
            let py = y(v)
            doc.line(x1: plotLeft, y1: py, x2: plotRight, y2: py, stroke: "#e3e3e3", className: "grid")
            doc.line(x1: plotLeft - 4, y1: py, x2: plotLeft, y2: py, stroke: "#444")
            doc.text(ticks.label(v), x: plotLeft - 7, y: py + layout.fontSize * 0.35, size: layout.fontSize - 1, anchor: .end,
                     className: "tick-y")
        }
        doc.line(x1: plotLeft, y1: plotTop, x2: plotLeft, y2: plotBottom, stroke: "#444", className: "axis")
        let cy = (plotTop + plotBottom) / 2
        doc.text(label, x: 16, y: cy, size: layout.fontSize, anchor: .middle, rotate: -90, className: "y-label")
    }

    /// Vertical grid lines and numeric x tick labels (class `tick-x`), the x axis line and the x label.
    public func drawXAxis(_ ticks: Ticks, label: String, into doc: inout SVGDocument) {
        let x = xScale(ticks)
        for v in ticks.values {
            let px = x(v)
            doc.line(x1: px, y1: plotTop, x2: px, y2: plotBottom, stroke: "#efefef", className: "grid")
            doc.line(x1: px, y1: plotBottom, x2: px, y2: plotBottom + 4, stroke: "#444")
            doc.text(ticks.label(v), x: px, y: plotBottom + 6 + layout.fontSize, size: layout.fontSize - 1, anchor: .middle,
                     className: "tick-x")
        }
        drawXBaseline(label: label, into: &doc)
    }

    /// Category names centred at `centers` (class `tick-x`), the x axis line and the x label.
    public func drawCategories(_ names: [String], centers: [Double], label: String, into doc: inout SVGDocument) {
        for (name, px) in zip(names, centers) {
            doc.text(name, x: px, y: plotBottom + 6 + layout.fontSize, size: layout.fontSize, anchor: .middle, className: "tick-x")
        }
        drawXBaseline(label: label, into: &doc)
    }

    private func drawXBaseline(label: String, into doc: inout SVGDocument) {
        doc.line(x1: plotLeft, y1: plotBottom, x2: plotRight, y2: plotBottom, stroke: "#444", className: "axis")
        doc.text(label, x: (plotLeft + plotRight) / 2, y: layout.height - 14, size: layout.fontSize, anchor: .middle,
                 className: "x-label")
    }

    /// The legend column to the right of the plot area, one group (class `legend-entry`) per entry.
    public func drawLegend(into doc: inout SVGDocument) {
        let x = plotRight + 14, rowHeight = layout.fontSize + 8
        for (i, e) in legend.enumerated() {
            let y = plotTop + 8 + Double(i) * rowHeight
            doc.beginGroup(className: "legend-entry")
            switch e.marker {
            case .square: doc.rect(x: x, y: y - 9, width: 12, height: 12, fill: e.color)
            case .line: doc.line(x1: x - 4, y1: y - 3, x2: x + 16, y2: y - 3, stroke: e.color, width: 2.5, dash: e.dash)
            case .dot: doc.circle(cx: x + 6, cy: y - 3, r: 4.5, fill: e.color)
            }
            doc.text(e.name, x: x + 20, y: y + 1, size: layout.fontSize, className: "legend-label")
            doc.endGroup()
        }
    }
}
