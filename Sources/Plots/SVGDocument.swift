import Foundation

/// A minimal SVG 1.1 writer: elements are appended as text and ``render()`` wraps them in an
/// `<svg>` root with `width`, `height` and a matching `viewBox` (user units = pixels, origin top
/// left, y growing downwards). Every attribute value and text node is XML-escaped.
public struct SVGDocument {
    public let width: Double
    public let height: Double
    private var body: [String] = []

    public init(width: Double, height: Double) {
        precondition(width > 0 && height > 0, "SVGDocument: width and height must be positive, got \(width) × \(height)")
        self.width = width; self.height = height
    }

    /// `<rect>` with its top-left corner at (x, y).
    public mutating func rect(x: Double, y: Double, width: Double, height: Double, fill: String, stroke: String? = nil,
                              className: String? = nil, title: String? = nil) {
        var a: [(String, String)] = [("x", n(x)), ("y", n(y)), ("width", n(max(0, width))), ("height", n(max(0, height))), ("fill", fill)]
        if let stroke { a.append(("stroke", stroke)) }
        element("rect", a, className: className, title: title)
    }

    /// `<line>` from (x1, y1) to (x2, y2).
    public mutating func line(x1: Double, y1: Double, x2: Double, y2: Double, stroke: String, width: Double = 1,
                              dash: String? = nil, className: String? = nil) {
        var a: [(String, String)] = [("x1", n(x1)), ("y1", n(y1)), ("x2", n(x2)), ("y2", n(y2)), ("stroke", stroke),
                                     ("stroke-width", n(width))]
        if let dash { a.append(("stroke-dasharray", dash)) }
        element("line", a, className: className)
    }

    /// `<polyline>` through `points` (pixels), unfilled.
    public mutating func polyline(_ points: [(x: Double, y: Double)], stroke: String, width: Double = 2, dash: String? = nil,
                                  className: String? = nil, title: String? = nil) {
        let p = points.map { "\(n($0.x)),\(n($0.y))" }.joined(separator: " ")
        var a: [(String, String)] = [("points", p), ("fill", "none"), ("stroke", stroke), ("stroke-width", n(width)),
                                     ("stroke-linejoin", "round")]
        if let dash { a.append(("stroke-dasharray", dash)) }
        element("polyline", a, className: className, title: title)
    }

    /// `<circle>` centred at (cx, cy).
    public mutating func circle(cx: Double, cy: Double, r: Double, fill: String, stroke: String? = nil, className: String? = nil,
                                title: String? = nil) {
        var a: [(String, String)] = [("cx", n(cx)), ("cy", n(cy)), ("r", n(r)), ("fill", fill)]
        if let stroke { a.append(("stroke", stroke)) }
        element("circle", a, className: className, title: title)
    }

    public enum Anchor: String { case start, middle, end }

    /// `<text>` with its anchor point at (x, y) (baseline); `rotate` in degrees about that point.
    public mutating func text(_ s: String, x: Double, y: Double, size: Double = 12, anchor: Anchor = .start,
                              weight: String? = nil, fill: String = "#222", rotate: Double? = nil, className: String? = nil) {
        var a: [(String, String)] = [("x", n(x)), ("y", n(y)), ("font-size", n(size)), ("text-anchor", anchor.rawValue),
                                     ("fill", fill)]
        if let weight { a.append(("font-weight", weight)) }
        if let rotate { a.append(("transform", "rotate(\(n(rotate)) \(n(x)) \(n(y)))")) }
        if let className { a.append(("class", className)) }
        body.append("<text " + attributes(a) + ">" + SVGDocument.escape(s) + "</text>")
    }

    /// Opens and closes a `<g>` group (for legend entries and similar).
    public mutating func beginGroup(className: String) { body.append("<g class=\"\(SVGDocument.escape(className))\">") }
    public mutating func endGroup() { body.append("</g>") }

    /// The document: an XML declaration, the `<svg>` root, a white background, the elements.
    public func render() -> String {
        var s = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
        s += "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(n(width))\" height=\"\(n(height))\" "
            + "viewBox=\"0 0 \(n(width)) \(n(height))\" font-family=\"DejaVu Sans, Helvetica, Arial, sans-serif\">\n"
        s += "<rect x=\"0\" y=\"0\" width=\"\(n(width))\" height=\"\(n(height))\" fill=\"#ffffff\" class=\"background\"/>\n"
        for e in body { s += e + "\n" }
        return s + "</svg>\n"
    }

    /// Escapes `& < > " '` for attribute values and text nodes.
    public static func escape(_ s: String) -> String {
        var out = ""
        out.reserveCapacity(s.count)
        for ch in s {
            switch ch {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&apos;"
            default: out.append(ch)
            }
        }
        return out
    }

    private mutating func element(_ name: String, _ a: [(String, String)], className: String?, title: String? = nil) {
        var a = a
        if let className { a.append(("class", className)) }
        if let title {
            body.append("<\(name) " + attributes(a) + "><title>" + SVGDocument.escape(title) + "</title></\(name)>")
        } else {
            body.append("<\(name) " + attributes(a) + "/>")
        }
    }

    private func attributes(_ a: [(String, String)]) -> String {
        a.map { "\($0.0)=\"\(SVGDocument.escape($0.1))\"" }.joined(separator: " ")
    }

    /// A coordinate with at most two decimals (sub-pixel precision is invisible).
    private func n(_ v: Double) -> String {
        precondition(v.isFinite, "SVGDocument: non-finite coordinate \(v)")
        let r = (v * 100).rounded() / 100
        return r == r.rounded() ? String(Int(r)) : String(r)
    }
}
