//! Property tests: `decode(encode(m)) == m` for arbitrary messages in both encodings, and
//! framing that does not depend on how the stream is chunked.

use ccv_opi::*;
use proptest::collection::vec;
use proptest::option::of;
use proptest::prelude::*;

/// Attribute text: printable, with characters that need escaping and non-ASCII ones.
fn attr_text() -> impl Strategy<Value = String> {
    "[a-zA-Z0-9 &<>\"'éü€½._:/-]{0,12}"
}

/// A mandatory attribute: not blank.
fn id_text() -> impl Strategy<Value = String> {
    "[a-zA-Z0-9&<é€_-][a-zA-Z0-9 &é€_-]{0,10}"
}

/// Element text that the decoder trims: no surrounding white space.
fn token() -> impl Strategy<Value = String> {
    "[a-zA-Z0-9&<>é€_.-]{0,10}"
}

/// Free text kept exactly (receipt lines): leading and trailing spaces included.
fn line_text() -> impl Strategy<Value = String> {
    "[ a-zA-Z0-9&<>\"'éü€½.,:-]{0,24}"
}

fn time_stamp() -> impl Strategy<Value = TimeStamp> {
    (
        2000u32..2100,
        1u32..=12,
        1u32..=28,
        0u32..24,
        0u32..60,
        0u32..60,
        prop::sample::select(vec!["", "Z", "+01:00", ".250"]),
    )
        .prop_map(|(y, mo, d, h, mi, s, z)| {
            TimeStamp::new(&format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}{z}")).unwrap()
        })
}

fn currency() -> impl Strategy<Value = Currency> {
    prop::sample::select(vec!["EUR", "USD", "JPY", "KWD", "GBP"]).prop_map(|c| Currency::new(c).unwrap())
}

fn amount() -> impl Strategy<Value = Amount> {
    (any::<u64>(), currency()).prop_map(|(m, c)| Amount::new(m, c))
}

fn pan() -> impl Strategy<Value = CardPan> {
    "[0-9]{6}[*]{6}[0-9]{4}".prop_map(|p| CardPan::new(&p).unwrap())
}

fn overall() -> impl Strategy<Value = OverallResult> {
    prop_oneof![
        4 => prop::sample::select(OverallResult::KNOWN.to_vec()),
        1 => "[A-Z][a-zA-Z]{0,10}"
            .prop_filter("not a known value", |s| OverallResult::KNOWN.iter().all(|k| k.as_str() != s))
            .prop_map(OverallResult::Other),
    ]
}

fn header() -> impl Strategy<Value = Header> {
    (of(attr_text()), id_text(), of(attr_text()), id_text()).prop_map(|(a, w, p, r)| Header {
        application_sender: a,
        workstation_id: w,
        pop_id: p,
        request_id: r,
    })
}

fn pos_data() -> impl Strategy<Value = PosData> {
    (of(attr_text()), time_stamp(), of(token()), of(token())).prop_map(|(l, t, c, s)| PosData {
        language_code: l,
        pos_time_stamp: t,
        clerk_id: c,
        shift_number: s,
    })
}

fn private() -> impl Strategy<Value = Option<PrivateData>> {
    of(line_text().prop_map(PrivateData))
}

fn terminal() -> impl Strategy<Value = Terminal> {
    (id_text(), of(attr_text()), of(attr_text())).prop_map(|(t, b, s)| Terminal {
        terminal_id: t,
        terminal_batch: b,
        stan: s,
    })
}

fn card_request() -> impl Strategy<Value = Message> {
    (
        header(),
        prop::sample::select(CardRequestType::ALL.to_vec()),
        of(pos_data()),
        amount(),
        of((of(attr_text()), of(attr_text()), of(time_stamp()), of(attr_text()))),
        private(),
    )
        .prop_map(|(header, request_type, pos_data, amount, orig, private_data)| {
            let needs_amount = matches!(
                request_type,
                CardRequestType::CardPayment
                    | CardRequestType::PaymentRefund
                    | CardRequestType::CardReservation
            );
            Message::CardServiceRequest(CardServiceRequest {
                header,
                request_type,
                pos_data,
                total_amount: (needs_amount || amount.minor_units % 2 == 0).then_some(amount),
                original_transaction: orig.map(|(terminal_id, stan, time_stamp, approval_code)| {
                    OriginalTransaction { terminal_id, stan, time_stamp, approval_code }
                }),
                private_data,
            })
        })
}

fn authorisation() -> impl Strategy<Value = Authorisation> {
    (
        of(attr_text()),
        of(pan()),
        of(attr_text()),
        of(attr_text()),
        of(attr_text()),
        of(attr_text()),
        of(time_stamp()),
        of(attr_text()),
    )
        .prop_map(|(a, p, c, t, ap, r, ts, ac)| Authorisation {
            acquirer_id: a,
            card_pan: p,
            card_circuit: c,
            authorisation_type: t,
            approval_code: ap,
            receipt_number: r,
            time_stamp: ts,
            action_code: ac,
        })
}

fn card_response() -> impl Strategy<Value = Message> {
    (
        header(),
        prop::sample::select(CardRequestType::ALL.to_vec()),
        overall(),
        of(terminal()),
        of((of(amount()), of(authorisation()))),
        of((of(attr_text()), of(pan()), of(attr_text()))),
        private(),
    )
        .prop_map(
            |(header, request_type, overall_result, terminal, tender, card_value, private_data)| {
                Message::CardServiceResponse(CardServiceResponse {
                    header,
                    request_type,
                    overall_result,
                    terminal,
                    tender: tender
                        .map(|(total_amount, authorisation)| Tender { total_amount, authorisation }),
                    card_value: card_value.map(|(card_circuit, card_pan, expiry_date)| CardValue {
                        card_circuit,
                        card_pan,
                        expiry_date,
                    }),
                    private_data,
                })
            },
        )
}

fn service_request() -> impl Strategy<Value = Message> {
    (header(), prop::sample::select(ServiceRequestType::ALL.to_vec()), of(pos_data()), private()).prop_map(
        |(header, request_type, pos_data, private_data)| {
            Message::ServiceRequest(ServiceRequest { header, request_type, pos_data, private_data })
        },
    )
}

fn service_response() -> impl Strategy<Value = Message> {
    let total = (of(attr_text()), of(attr_text()), of(any::<u32>()), amount()).prop_map(|(c, p, n, a)| {
        ReconciliationTotal { card_circuit: c, payment_type: p, number_payments: n, amount: a }
    });
    (
        header(),
        prop::sample::select(ServiceRequestType::ALL.to_vec()),
        overall(),
        of(terminal()),
        of((of(attr_text()), vec(total, 0..4))),
        private(),
    )
        .prop_map(|(header, request_type, overall_result, terminal, rec, private_data)| {
            Message::ServiceResponse(ServiceResponse {
                header,
                request_type,
                overall_result,
                terminal,
                reconciliation: rec.map(|(language_code, totals)| Reconciliation { language_code, totals }),
                private_data,
            })
        })
}

fn text_line() -> impl Strategy<Value = TextLine> {
    (
        line_text(),
        (of(any::<u32>()), of(any::<u32>()), of(any::<bool>()), of(any::<bool>()), of(any::<bool>())),
        (of(any::<u32>()), of(attr_text()), of(any::<u32>()), of(attr_text())),
        (of(attr_text()), of(attr_text()), of(attr_text())),
    )
        .prop_map(
            |(
                text,
                (row, column, erase, echo, cursor),
                (time_out, color, char_set, alignment),
                (height, width, char_style),
            )| {
                TextLine {
                    text,
                    row,
                    column,
                    erase,
                    echo,
                    cursor,
                    time_out,
                    color,
                    char_set,
                    alignment,
                    height,
                    width,
                    char_style,
                }
            },
        )
}

fn device_request() -> impl Strategy<Value = Message> {
    let output = (prop::sample::select(OutDevice::ALL.to_vec()), vec(text_line(), 0..4))
        .prop_map(|(out_device_target, text_lines)| Output { out_device_target, text_lines });
    let command =
        (token(), of(any::<u32>()), of(any::<u32>()), of(any::<u32>())).prop_map(|(c, t, min, max)| {
            InputCommand { command: c, time_out: t, min_length: min, max_length: max }
        });
    let input = (prop::sample::select(InDevice::ALL.to_vec()), of(command))
        .prop_map(|(in_device_target, command)| Input { in_device_target, command });
    (header(), prop::sample::select(DeviceRequestType::ALL.to_vec()), vec(output, 0..3), of(input), private())
        .prop_filter("Output needs an Output element, Input and SecureInput an Input", |(_, t, o, i, _)| {
            match t {
                DeviceRequestType::Output => !o.is_empty(),
                DeviceRequestType::Input | DeviceRequestType::SecureInput => i.is_some(),
                _ => true,
            }
        })
        .prop_map(|(header, request_type, outputs, input, private_data)| {
            Message::DeviceRequest(DeviceRequest { header, request_type, outputs, input, private_data })
        })
}

fn device_response() -> impl Strategy<Value = Message> {
    let output = (prop::sample::select(OutDevice::ALL.to_vec()), overall())
        .prop_map(|(out_device_target, out_result)| OutputResult { out_device_target, out_result });
    let input = (prop::sample::select(InDevice::ALL.to_vec()), overall(), of(token())).prop_map(
        |(in_device_target, in_result, input_value)| InputResult { in_device_target, in_result, input_value },
    );
    (
        header(),
        prop::sample::select(DeviceRequestType::ALL.to_vec()),
        overall(),
        vec(output, 0..3),
        of(input),
        private(),
    )
        .prop_map(|(header, request_type, overall_result, outputs, input, private_data)| {
            Message::DeviceResponse(DeviceResponse {
                header,
                request_type,
                overall_result,
                outputs,
                input,
                private_data,
            })
        })
}

fn message() -> impl Strategy<Value = Message> {
    prop_oneof![
        card_request(),
        card_response(),
        service_request(),
        service_response(),
        device_request(),
        device_response()
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn decode_inverts_encode(m in message()) {
        for encoding in [Encoding::Utf8, Encoding::Iso8859_1] {
            let bytes = encode(&m, encoding);
            prop_assert_eq!(decode(&bytes).map_err(|e| e.to_string()), Ok(m.clone()), "{:?}", encoding);
        }
        let pretty = encode_with(&m, EncodeOptions { encoding: Encoding::Utf8, pretty: true });
        prop_assert_eq!(decode(&pretty).map_err(|e| e.to_string()), Ok(m.clone()));
    }

    #[test]
    fn json_round_trips(m in message()) {
        let json = serde_json::to_string(&m).unwrap();
        prop_assert_eq!(serde_json::from_str::<Message>(&json).unwrap(), m);
    }

    #[test]
    fn framing_ignores_chunking(
        payloads in vec(vec(any::<u8>(), 1..300), 0..6),
        cuts in vec(any::<prop::sample::Index>(), 0..20),
    ) {
        let mut stream = Vec::new();
        for p in &payloads {
            encode_frame(p, DEFAULT_MAX_FRAME_LEN, &mut stream).unwrap();
        }
        let mut cuts: Vec<usize> = cuts.iter().map(|i| i.index(stream.len() + 1)).collect();
        cuts.push(stream.len());
        cuts.sort_unstable();
        let mut buf = FrameBuffer::default();
        let mut got = Vec::new();
        let mut from = 0;
        for cut in cuts {
            buf.push(&stream[from..cut]);
            from = cut;
            while let Some(f) = buf.next_frame().unwrap() {
                got.push(f);
            }
        }
        prop_assert_eq!(got, payloads);
        prop_assert_eq!(buf.buffered(), 0);
    }

    #[test]
    fn every_byte_split_of_a_frame_pair_gives_the_same_frames(m in message()) {
        let xml = encode(&m, Encoding::Utf8);
        prop_assert_eq!(decode(&xml).map_err(|e| e.to_string()), Ok(m));
        let mut stream = Vec::new();
        encode_frame(&xml, DEFAULT_MAX_FRAME_LEN, &mut stream).unwrap();
        encode_frame(&xml, DEFAULT_MAX_FRAME_LEN, &mut stream).unwrap();
        for split in 0..=stream.len() {
            let mut buf = FrameBuffer::default();
            let mut got = Vec::new();
            for part in [&stream[..split], &stream[split..]] {
                buf.push(part);
                while let Some(f) = buf.next_frame().unwrap() {
                    got.push(f);
                }
            }
            prop_assert!(got.len() == 2 && got[0] == xml && got[1] == xml, "split at {}", split);
        }
    }

    #[test]
    fn arbitrary_bytes_never_panic(data in vec(any::<u8>(), 0..512)) {
        ccv_opi::fuzz::xml(&data);
        ccv_opi::fuzz::frames(&data);
    }

    #[test]
    fn mutated_fixtures_never_panic(idx in any::<prop::sample::Index>(), pos in any::<prop::sample::Index>(), byte in any::<u8>()) {
        let xml = encode(&ccv_opi_fixture(idx.index(3)), Encoding::Utf8);
        let mut data = xml.clone();
        let p = pos.index(data.len());
        data[p] = byte;
        ccv_opi::fuzz::xml(&data);
        data.truncate(p);
        ccv_opi::fuzz::xml(&data);
    }
}

fn ccv_opi_fixture(i: usize) -> Message {
    let name = ["card_payment_request", "card_payment_response_success", "device_output_receipt_request"][i];
    let path = format!("{}/../../fixtures/opi/{name}.xml", env!("CARGO_MANIFEST_DIR"));
    decode(&std::fs::read(path).unwrap()).unwrap()
}
