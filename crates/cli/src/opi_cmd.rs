//! `ccv-emu opi decode|encode`: OPI_NL XML ⇄ JSON, a debugging tool for the wire format.
//!
//! Decoding prints one JSON object per message (field names as in OPI); encoding reads such
//! JSON back and writes XML. With `--framed` both sides speak the TCP framing (4-byte
//! big-endian length, then the XML). Any invalid input ends with exit status 1 and one line on
//! stderr that names the problem and the OPI `OverallResult` a terminal would answer with.

use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, bail};
use ccv_opi::{
    DEFAULT_MAX_FRAME_LEN, EncodeOptions, Encoding, FrameDecoder, FrameError, Message, OverallResult, decode,
    encode_frame, encode_with,
};

/// The largest input read from a file or stdin (a stream of many frames fits easily).
const MAX_INPUT: u64 = 64 * 1024 * 1024;

#[derive(Debug, clap::Subcommand)]
pub enum OpiCmd {
    /// Decode OPI XML to JSON (one object per message, OPI field names).
    ///
    /// Reads one XML message, or with --framed a stream of length-prefixed frames (as captured
    /// from a TCP connection). The character encoding follows the XML declaration (UTF-8 or
    /// ISO-8859-1). On invalid input prints one line on stderr naming the problem, where it is
    /// and the OverallResult (FormatError, ParsingError, ValidationError, MissingMandatoryData)
    /// a terminal would answer with, and exits with status 1.
    ///
    /// Example: ccv-emu opi decode fixtures/opi/card_payment_request.xml
    Decode {
        /// The input file; `-` or nothing reads stdin.
        file: Option<PathBuf>,
        /// The input is a stream of frames: 4-byte big-endian length, then the XML.
        #[arg(long)]
        framed: bool,
        /// Largest frame accepted with --framed, in bytes.
        #[arg(long, default_value_t = DEFAULT_MAX_FRAME_LEN, value_name = "BYTES")]
        max_frame_len: usize,
        /// Indent the JSON (default: one compact object per line, for jq and scripts).
        #[arg(long)]
        pretty: bool,
    },
    /// Encode JSON (as printed by `opi decode`) to OPI XML.
    ///
    /// Reads one JSON message, or with --framed any number of them (concatenated or one per
    /// line), and writes XML in the OPI namespace with amounts in the currency's decimals.
    ///
    /// Example: ccv-emu opi decode msg.xml | ccv-emu opi encode --encoding iso-8859-1
    Encode {
        /// The input file; `-` or nothing reads stdin.
        file: Option<PathBuf>,
        /// Write length-prefixed frames instead of one XML document.
        #[arg(long)]
        framed: bool,
        /// Character encoding of the XML (written in its declaration too).
        #[arg(long, value_enum, default_value_t = CliEncoding::Utf8)]
        encoding: CliEncoding,
        /// Indent the XML, one element per line.
        #[arg(long)]
        pretty: bool,
    },
}

/// `--encoding` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum CliEncoding {
    /// UTF-8.
    #[value(name = "utf-8", alias = "utf8")]
    Utf8,
    /// ISO-8859-1 (Latin-1); other characters become character references.
    #[value(name = "iso-8859-1", alias = "latin1")]
    Iso8859_1,
}

impl From<CliEncoding> for Encoding {
    fn from(e: CliEncoding) -> Self {
        match e {
            CliEncoding::Utf8 => Encoding::Utf8,
            CliEncoding::Iso8859_1 => Encoding::Iso8859_1,
        }
    }
}

pub fn run(cmd: OpiCmd) -> anyhow::Result<ExitCode> {
    match cmd {
        OpiCmd::Decode { file, framed, max_frame_len, pretty } => {
            let input = read_input(file.as_ref())?;
            let mut out = std::io::stdout().lock();
            if framed {
                decode_frames(&input, FrameDecoder::with_max_frame_len(max_frame_len), pretty, &mut out)?;
            } else {
                let message = decode(&input)
                    .map_err(|e| anyhow::anyhow!("{e} (OverallResult: {})", e.overall_result()))?;
                print_json(&message, pretty, &mut out)?;
            }
            out.flush()?;
        }
        OpiCmd::Encode { file, framed, encoding, pretty } => {
            let input = read_input(file.as_ref())?;
            let messages = parse_json(&input)?;
            let options = EncodeOptions { encoding: encoding.into(), pretty };
            let mut bytes = Vec::new();
            match (framed, messages.as_slice()) {
                (false, [one]) => bytes = encode_with(one, options),
                (false, _) => bail!(
                    "the input holds {} JSON messages; one XML document holds one, so use --framed",
                    messages.len()
                ),
                (true, _) => {
                    for m in &messages {
                        encode_frame(&encode_with(m, options), usize::MAX, &mut bytes)?;
                    }
                }
            }
            let mut out = std::io::stdout().lock();
            out.write_all(&bytes)?;
            out.flush()?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn read_input(file: Option<&PathBuf>) -> anyhow::Result<Vec<u8>> {
    let mut buf = Vec::new();
    let (name, read) = match file.filter(|p| p.as_os_str() != "-") {
        Some(path) => {
            let f = std::fs::File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
            (path.display().to_string(), f.take(MAX_INPUT + 1).read_to_end(&mut buf))
        }
        None => ("stdin".to_owned(), std::io::stdin().lock().take(MAX_INPUT + 1).read_to_end(&mut buf)),
    };
    read.with_context(|| format!("cannot read {name}"))?;
    if buf.len() as u64 > MAX_INPUT {
        bail!("{name} is larger than {MAX_INPUT} bytes; split the capture");
    }
    Ok(buf)
}

fn print_json(message: &Message, pretty: bool, out: &mut impl Write) -> anyhow::Result<()> {
    if pretty {
        serde_json::to_writer_pretty(&mut *out, message)?;
    } else {
        serde_json::to_writer(&mut *out, message)?;
    }
    out.write_all(b"\n")?;
    Ok(())
}

fn decode_frames(
    input: &[u8],
    frames: FrameDecoder,
    pretty: bool,
    out: &mut impl Write,
) -> anyhow::Result<()> {
    let mut rest = input;
    let mut offset = 0;
    let mut index = 1;
    // Every iteration consumes at least one whole frame (5 bytes or more) or ends.
    while !rest.is_empty() {
        let (payload, used) = match frames.decode(rest) {
            Ok(Some(frame)) => frame,
            Ok(None) => bail!(
                "frame {index} at byte {offset} is cut short: {} bytes left, the frame needs {} \
                 (OverallResult: FormatError)",
                rest.len(),
                rest.len() + frames.needed(rest).unwrap_or(0)
            ),
            Err(FrameError::ZeroLength { .. }) => {
                bail!("frame {index} at byte {offset}: frame length is 0 (OverallResult: FormatError)")
            }
            Err(e) => bail!("frame {index} at byte {offset}: {e} (OverallResult: FormatError)"),
        };
        let message = decode(payload).map_err(|e| {
            anyhow::anyhow!("frame {index} at byte {offset}: {e} (OverallResult: {})", e.overall_result())
        })?;
        print_json(&message, pretty, out)?;
        rest = &rest[used..];
        offset += used;
        index += 1;
    }
    Ok(())
}

fn parse_json(input: &[u8]) -> anyhow::Result<Vec<Message>> {
    let mut messages = Vec::new();
    for (i, item) in serde_json::Deserializer::from_slice(input).into_iter::<Message>().enumerate() {
        match item {
            Ok(m) => messages.push(m),
            Err(e) => {
                let result = match e.classify() {
                    serde_json::error::Category::Data if e.to_string().starts_with("missing field") => {
                        OverallResult::MissingMandatoryData
                    }
                    serde_json::error::Category::Data => OverallResult::ValidationError,
                    _ => OverallResult::ParsingError,
                };
                bail!("JSON message {}: {e} (OverallResult: {result})", i + 1);
            }
        }
    }
    if messages.is_empty() {
        bail!("no JSON message in the input (OverallResult: ParsingError)");
    }
    Ok(messages)
}
