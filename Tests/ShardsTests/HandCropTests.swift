// Tests: the hand-centric crop — square boxes clamped to the frame, OpenCV's area resize against a plain Swift
// area average, and the motion box around what moves — and image files read and written through OpenCV.
import Foundation
import Shards
import XCTest

final class HandCropTests: XCTestCase {
    func testAreaResizeMatchesThePlainAreaAverageOnOddShapes() throws {
        for (sh, sw, dh, dw) in [(37, 29, 11, 7), (64, 64, 16, 16), (30, 45, 30, 15), (9, 13, 4, 5)] {
            let src = (0..<(sh * sw * 3)).map { UInt8(truncatingIfNeeded: $0 &* 7919 >> 3) }
            let fast = try ImageOps.resizeArea(src, height: sh, width: sw, toHeight: dh, width: dw)
            let reference = ImageOps.resizeAreaReference(src, height: sh, width: sw, toHeight: dh, width: dw)
            let worst = zip(fast, reference).map { abs(Int($0) - Int($1)) }.max() ?? 0
            // OpenCV accumulates fractional weights in float; rounding may differ by one level.
            XCTAssertLessThanOrEqual(worst, 1, "\(sh)x\(sw) -> \(dh)x\(dw): max difference \(worst)")
        }
    }

    func testSquareCropKeepsTheBoxCentredInsideTheFrameAndPadsOnlyWhenLarger() {
        // A box in the middle: side = 40 × 1.2 = 48 around its centre (60, 50).
        XCTAssertEqual(SquareCrop.around((40, 30, 80, 70), frameWidth: 160, frameHeight: 120, margin: 0.1),
                       SquareCrop(x0: 36, y0: 26, side: 48))
        // Near the right edge: moved left so that it stays inside.
        XCTAssertEqual(SquareCrop.around((140, 10, 160, 30), frameWidth: 160, frameHeight: 120, margin: 0),
                       SquareCrop(x0: 140, y0: 10, side: 20))
        XCTAssertEqual(SquareCrop.around((150, 0, 170, 20), frameWidth: 160, frameHeight: 120, margin: 0),
                       SquareCrop(x0: 140, y0: 0, side: 20))
        // Taller than the frame's height: centred vertically with black padding, inside horizontally.
        XCTAssertEqual(SquareCrop.around((10, 0, 150, 120), frameWidth: 160, frameHeight: 120, margin: 0),
                       SquareCrop(x0: 10, y0: -10, side: 140))
        // Never bigger than the frame's longer edge.
        XCTAssertEqual(SquareCrop.around((0, 0, 160, 120), frameWidth: 160, frameHeight: 120, margin: 0.5).side, 160)
        XCTAssertEqual(SquareCrop.centre(frameWidth: 160, frameHeight: 120), SquareCrop(x0: 20, y0: 0, side: 120))
    }

    func testCropResizeOfKnownBlocksGivesTheirColoursAndBlackPadding() throws {
        // 40×20 frame: left half red, right half blue; a 4-pixel green block at x 16..<20, y 8..<12.
        let w = 40, h = 20
        var rgb = [UInt8](repeating: 0, count: w * h * 3)
        for y in 0..<h { for x in 0..<w { rgb[(y * w + x) * 3 + (x < 20 ? 0 : 2)] = 200 } }
        for y in 8..<12 { for x in 16..<20 { rgb[(y * w + x) * 3] = 0; rgb[(y * w + x) * 3 + 1] = 240; rgb[(y * w + x) * 3 + 2] = 0 } }
        var out = [UInt8](repeating: 0, count: 4 * 4 * 3)
        // The 16×16 square at (12, 4) shrunk 4× : each output pixel is one 4×4 block.
        try rgb.withUnsafeBufferPointer { src in
            try out.withUnsafeMutableBufferPointer {
                try ImageOps.cropResize(src, width: w, height: h, crop: SquareCrop(x0: 12, y0: 4, side: 16), size: 4, into: $0)
            }
        }
        func px(_ x: Int, _ y: Int) -> [UInt8] { Array(out[((y * 4 + x) * 3)..<((y * 4 + x) * 3 + 3)]) }
        XCTAssertEqual(px(0, 0), [200, 0, 0]); XCTAssertEqual(px(1, 1), [0, 240, 0]); XCTAssertEqual(px(2, 2), [0, 0, 200])
        // A square sticking out above and below (40 tall on a 20-high frame): black outside, halves inside.
        var padded = [UInt8](repeating: 1, count: 4 * 4 * 3)
        try rgb.withUnsafeBufferPointer { src in
            try padded.withUnsafeMutableBufferPointer {
                try ImageOps.cropResize(src, width: w, height: h, crop: SquareCrop(x0: 0, y0: -10, side: 40), size: 4, into: $0)
            }
        }
        XCTAssertEqual(Array(padded[0..<3]), [0, 0, 0], "top row lies outside the frame")
        XCTAssertEqual(Array(padded[(1 * 4 * 3)..<(1 * 4 * 3 + 3)]), [200, 0, 0], "second row is inside, left half red")
        XCTAssertEqual(Array(padded[(3 * 4 * 3)..<(3 * 4 * 3 + 3)]), [0, 0, 0], "bottom row lies outside the frame")
    }

    func testMotionBoxSurroundsTheMovingBlobAndIsNilForAStillClip() throws {
        let w = 96, h = 72
        var motion = MotionAccumulator(width: w, height: h), still = MotionAccumulator(width: w, height: h)
        // Textured static background; an 8×8 white blob sliding from x = 20 to x = 50 at rows 30..<38.
        let background = (0..<(w * h * 3)).map { UInt8(80 + ($0 / 3 % w / 6 % 2) * 40) }
        for f in 0..<10 {
            var frame = background
            let bx = 20 + f * 3
            for y in 30..<38 { for x in bx..<(bx + 8) { for c in 0..<3 { frame[(y * w + x) * 3 + c] = 255 } } }
            try frame.withUnsafeBufferPointer { try motion.add($0) }
            try background.withUnsafeBufferPointer { try still.add($0) }
        }
        let box = try XCTUnwrap(try motion.box(), "the blob moves")
        // The blob covers x 20..<55 and y 30..<38 over the clip; the closing may grow it by a few pixels.
        XCTAssertLessThanOrEqual(box.0, 21); XCTAssertGreaterThanOrEqual(box.2, 54)
        XCTAssertLessThanOrEqual(box.1, 30); XCTAssertGreaterThanOrEqual(box.3, 38)
        XCTAssertGreaterThanOrEqual(box.0, 14); XCTAssertLessThanOrEqual(box.2, 64)
        XCTAssertGreaterThanOrEqual(box.1, 24); XCTAssertLessThanOrEqual(box.3, 44)
        XCTAssertNil(try still.box(), "a still clip has no motion box")
    }

    func testImagesAreReadAsRGB() throws {
        let dir = try ShardFixture.directory(self)
        let path = dir + "/rgb.bmp"
        // 3×2 pixels: red, green, blue / white, black, grey.
        let rgb: [UInt8] = [255, 0, 0, 0, 255, 0, 0, 0, 255, 255, 255, 255, 0, 0, 0, 128, 128, 128]
        try MediaFixture.writeBMP(rgb, width: 3, height: 2, to: path)
        let image = try ImageOps.readRGB(path: path)
        XCTAssertEqual(image.width, 3); XCTAssertEqual(image.height, 2)
        XCTAssertEqual(image.pixels, rgb)
        XCTAssertThrowsError(try ImageOps.readRGB(path: dir + "/missing.png"))
    }

    func testWrittenPNGsReadBackAsTheSameRGBAndAnUnknownFormatNamesTheFile() throws {
        let dir = try ShardFixture.directory(self)
        // 3×2 pixels: red, green, blue / white, black, grey; swapped channels would turn red into blue.
        let rgb: [UInt8] = [255, 0, 0, 0, 255, 0, 0, 0, 255, 255, 255, 255, 0, 0, 0, 128, 128, 128]
        try ImageOps.writeRGB(rgb, width: 3, height: 2, to: dir + "/rgb.png")
        let image = try ImageOps.readRGB(path: dir + "/rgb.png")
        XCTAssertEqual(image.width, 3); XCTAssertEqual(image.height, 2)
        XCTAssertEqual(image.pixels, rgb)
        try ImageOps.writeRGB(rgb, width: 3, height: 2, to: dir + "/rgb.jpg")
        XCTAssertEqual(try ImageOps.readRGB(path: dir + "/rgb.jpg").width, 3)
        XCTAssertThrowsError(try ImageOps.writeRGB(rgb, width: 3, height: 2, to: dir + "/rgb.nosuchformat")) {
            XCTAssertTrue("\($0)".contains(dir + "/rgb.nosuchformat") && "\($0)".contains("no encoder for .nosuchformat"), "\($0)")
        }
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir).sorted(), ["rgb.jpg", "rgb.png"])
    }

    func testHandCropModesParseAndUnknownOnesAreRejected() throws {
        XCTAssertEqual(try HandCropMode(parsing: "motion"), .motion)
        XCTAssertEqual(try HandCropMode(parsing: "boxes:/tmp/b.json"), .boxes(path: "/tmp/b.json"))
        XCTAssertThrowsError(try HandCropMode(parsing: "hands"))
        XCTAssertThrowsError(try HandCropMode(parsing: "boxes:"))
    }

    func testBoxesFileAndMotionModesChooseTheClipSquare() throws {
        let dir = try ShardFixture.directory(self)
        // Six 60×40 frames: grey, with a 6×6 white blob sliding right along rows 10..<16 from x = 30 to x = 45.
        var paths: [String] = []
        for f in 0..<6 {
            var rgb = [UInt8](repeating: 100, count: 60 * 40 * 3)
            for y in 10..<16 { for x in (30 + 3 * f)..<(36 + 3 * f) { for c in 0..<3 { rgb[(y * 60 + x) * 3 + c] = 255 } } }
            paths.append(dir + "/frame_\(f).bmp")
            try MediaFixture.writeBMP(rgb, width: 60, height: 40, to: paths[f])
        }
        let input = ClipInput(media: .images(paths), label: 0, clipID: "c1")

        try Data("{\"c1\": [5, 5, 25, 15]}".utf8).write(to: URL(fileURLWithPath: dir + "/boxes.json"))
        let boxes = try ClipOptions.loadBoxes(path: dir + "/boxes.json")
        let listed = try ClipReader.read(input, options: ClipOptions(size: 8, handCrop: .boxes(path: dir + "/boxes.json"), margin: 0, boxes: boxes))
        XCTAssertTrue(listed.box == (5, 0, 25, 20), "box 20×10 squared to 20 around (15, 10): \(listed.box)")
        var other = input; other.clipID = "c2"
        let unlisted = try ClipReader.read(other, options: ClipOptions(size: 8, handCrop: .boxes(path: dir + "/boxes.json"), margin: 0, boxes: boxes))
        XCTAssertTrue(unlisted.box == (10, 0, 50, 40), "a clip the file does not list gets the centre square: \(unlisted.box)")

        let moving = try ClipReader.read(input, options: ClipOptions(size: 8, handCrop: .motion, margin: 0))
        // The blob sweeps x 30..<51, y 10..<16; the square around it is about 21 wide, centred near (40, 13).
        let (x0, y0, x1, y1) = moving.box
        XCTAssertEqual(Double(x0 + x1) / 2, 40.5, accuracy: 3, "\(moving.box)")
        XCTAssertEqual(Double(y0 + y1) / 2, 13, accuracy: 4, "\(moving.box)")
        XCTAssertEqual(Double(x1 - x0), 21, accuracy: 6, "\(moving.box)")

        try Data("{\"c1\": [1, 2, 3]}".utf8).write(to: URL(fileURLWithPath: dir + "/bad.json"))
        XCTAssertThrowsError(try ClipOptions.loadBoxes(path: dir + "/bad.json")) { XCTAssertTrue("\($0)".contains("c1"), "\($0)") }
    }
}
