import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import NIOHTTP1
import NIOHTTPTypes

/// Answers what the HTTP/1 parser refuses, before any route sees it, as
/// problem+json like every other error: headers over the limit are a 431,
/// anything else the parser cannot take (a body framed by both
/// `Transfer-Encoding` and `Content-Length`, bytes that are not HTTP) a
/// 400; then the connection closes, as it must once framing is lost.
/// Hummingbird would answer both with an empty 400 of its own; that answer
/// finds the connection answered and is dropped.
final class ParserProblemHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart
    typealias OutboundIn = HTTPResponsePart
    typealias OutboundOut = HTTPResponsePart

    /// A response's head has gone out and its end not yet: no second answer can start.
    private var responseOpen = false
    private var answered = false

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        guard !answered else {
            promise?.fail(ChannelError.ioOnClosedChannel)
            return
        }
        switch unwrapOutboundIn(data) {
        case .head(let head) where head.status.kind != .informational: responseOpen = true
        case .end: responseOpen = false
        default: break
        }
        context.write(data, promise: promise)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        guard let parserError = error as? HTTPParserError, !answered else {
            context.fireErrorCaught(error)
            return
        }
        answered = true
        if responseOpen {
            context.close(promise: nil)
        } else {
            let problem = Self.problem(for: parserError)
            let body = ByteBuffer(bytes: problem.encoded())
            let head = HTTPResponse(status: problem.status, headerFields: [
                .contentType: "application/problem+json", .contentLength: String(body.readableBytes), .connection: "close",
            ])
            context.write(wrapOutboundOut(.head(head)), promise: nil)
            context.write(wrapOutboundOut(.body(body)), promise: nil)
            context.writeAndFlush(wrapOutboundOut(.end(nil))).assumeIsolated().whenComplete { _ in context.close(promise: nil) }
        }
        // Whatever reads the request's body sees it fail, not end early.
        context.fireErrorCaught(error)
    }

    static func problem(for error: HTTPParserError) -> Problem {
        if error == .headerOverflow {
            return Problem(.init(code: 431, reasonPhrase: "Request Header Fields Too Large"), rule: "headers-too-large",
                           title: "The request's headers are too large",
                           detail: "the request line and headers are limited to \(ParserProblemHandler.headerLimit / 1024) KiB")
        }
        return Problem(.badRequest, rule: "malformed-http", title: "The request is not valid HTTP/1.1",
                       detail: "the HTTP parser refused the request (\(error)); a body framed by both Transfer-Encoding and Content-Length is refused (RFC 9112, 6.1)")
    }

    /// The request line and headers together, at most: Hummingbird's default.
    static let headerLimit = 80 * 1024
}
