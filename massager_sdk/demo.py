"""``make demo``: show what the SDK does, on the embedded simulator."""

from __future__ import annotations

from massager_protocols.nmp import SetHeat, SetOutput, StreamDecoder, Waveform, encode


def main() -> None:
    """Encode a few NMP/1 commands, split them like a BLE link would, decode them."""
    commands = [SetOutput(0b11, 4, Waveform.WAVE, 0, 2000), SetHeat(400)]
    stream = b"".join(encode(c, seq) for seq, c in enumerate(commands, 1))
    decoder = StreamDecoder()
    for offset in range(0, len(stream), 5):
        for frame in decoder.feed(stream[offset : offset + 5]):
            print(f"seq {frame.seq}: {frame.message()}")
    print(decoder.stats)


if __name__ == "__main__":
    main()
