import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif
import XCTest

/// An element of a parsed XML document (Foundation's XMLParser: an independent parser, so a
/// document that parses here is well-formed XML).
final class XMLNode {
    let name: String
    let attributes: [String: String]
    var text = ""
    var children: [XMLNode] = []
    init(name: String, attributes: [String: String]) { self.name = name; self.attributes = attributes }

    /// This element and all its descendants, depth first.
    var all: [XMLNode] { [self] + children.flatMap(\.all) }
    func elements(_ name: String, class c: String? = nil) -> [XMLNode] {
        all.filter { $0.name == name && (c == nil || $0.attributes["class"] == c) }
    }
    func number(_ attribute: String) -> Double? { attributes[attribute].flatMap(Double.init) }
}

private final class TreeBuilder: NSObject, XMLParserDelegate {
    var stack: [XMLNode] = []
    var root: XMLNode?
    func parser(_ parser: XMLParser, didStartElement name: String, namespaceURI: String?, qualifiedName: String?,
                attributes: [String: String] = [:]) {
        let node = XMLNode(name: name, attributes: attributes)
        stack.last?.children.append(node)
        if root == nil { root = node }
        stack.append(node)
    }
    func parser(_ parser: XMLParser, didEndElement name: String, namespaceURI: String?, qualifiedName: String?) { stack.removeLast() }
    func parser(_ parser: XMLParser, foundCharacters string: String) { stack.last?.text += string }
}

/// Parses `svg`, failing the test when it is not well-formed XML with an `<svg>` root in the SVG namespace.
func parseSVG(_ svg: String, file: StaticString = #filePath, line: UInt = #line) throws -> XMLNode {
    let parser = XMLParser(data: Data(svg.utf8))
    let builder = TreeBuilder()
    parser.delegate = builder
    let ok = parser.parse()
    XCTAssertTrue(ok, "not well-formed XML: \(String(describing: parser.parserError))", file: file, line: line)
    let root = try XCTUnwrap(builder.root, file: file, line: line)
    XCTAssertEqual(root.name, "svg", file: file, line: line)
    XCTAssertEqual(root.attributes["xmlns"], "http://www.w3.org/2000/svg", file: file, line: line)
    return root
}

/// The pixel position of the tick labelled `label` (class `tick-y`: its y, corrected for the
/// baseline offset the chart adds; `tick-x`: its x).
func tickPosition(_ root: XMLNode, axis: String, label: String, fontSize: Double = 12,
                  file: StaticString = #filePath, line: UInt = #line) throws -> Double {
    let ticks = root.elements("text", class: "tick-\(axis)")
    let tick = try XCTUnwrap(ticks.first { $0.text == label }, "no \(axis) tick labelled \(label) among \(ticks.map(\.text))",
                             file: file, line: line)
    if axis == "x" { return try XCTUnwrap(tick.number("x"), file: file, line: line) }
    // The y tick text sits at the grid line + 0.35 × font size (vertical centring of the digits).
    return try XCTUnwrap(tick.number("y"), file: file, line: line) - fontSize * 0.35
}
