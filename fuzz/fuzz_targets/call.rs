//! The `Call` state machine (`wrap-call`'s policy): the fuzzer chooses the
//! configuration, whether a token is held first and how old it is, the
//! resource server's response heads (status, challenge, DPoP nonce),
//! transport failures, and what the flows the call runs are answered (the
//! good server, or hostile responses), and sometimes reports things out of
//! order. Several calls run one after the other on the same client.
#![no_main]

use arbitrary::{Result, Unstructured};
use libfuzzer_sys::fuzz_target;
use mcp_oauth_core::{
    Action, Call, CallAction, Client, Flow, HttpRequest, HttpResponse, ResponseHead, TransportError,
};
use mcp_oauth_fuzz::{begin, client, entropy, good, inspect, parse_response, NOW, SERVER};

const CHALLENGES: &[&str] = &[
    "Bearer",
    r#"Bearer resource_metadata="https://mcp.example.com/.well-known/oauth-protected-resource/mcp""#,
    r#"Bearer error="invalid_token""#,
    r#"Bearer error="insufficient_scope", scope="read write admin""#,
    r#"DPoP error="use_dpop_nonce", algs="ES256""#,
    r#"DPoP algs="ES256", Bearer"#,
    r#"Basic realm="x""#,
];

const STATUSES: &[u16] = &[200, 201, 204, 302, 400, 401, 403, 404, 500];

fn text(u: &mut Unstructured<'_>) -> Result<String> {
    let len = u.int_in_range(0..=64)?;
    Ok(String::from_utf8_lossy(u.bytes(len)?).into_owned())
}

fn challenge(u: &mut Unstructured<'_>) -> Result<Option<String>> {
    Ok(match u.int_in_range(0..=3)? {
        0 => None,
        1 => Some(text(u)?),
        _ => Some(u.choose(CHALLENGES)?.to_string()),
    })
}

fn status(u: &mut Unstructured<'_>) -> Result<u16> {
    if u.ratio(1, 8)? {
        u.arbitrary()
    } else {
        Ok(*u.choose(STATUSES)?)
    }
}

fn answer(
    u: &mut Unstructured<'_>,
    req: &HttpRequest,
) -> Result<Result<HttpResponse, TransportError>> {
    Ok(match u.int_in_range(0..=7)? {
        0 => Err(TransportError::TimedOut),
        1 => {
            let mut r = good(req);
            r.status = status(u)?;
            Ok(r)
        }
        2 => {
            let len = u.int_in_range(0..=512)?;
            let record = String::from_utf8_lossy(u.bytes(len)?).into_owned();
            parse_response(&record)
        }
        3 => Ok(HttpResponse::json(
            400,
            u.choose(&[
                r#"{"error":"invalid_grant"}"#,
                r#"{"error":"invalid_client"}"#,
                r#"{"error":"use_dpop_nonce"}"#,
                r#"{"error":"invalid_scope"}"#,
            ])?,
        )),
        _ => Ok(good(req)),
    })
}

fn run_flow(u: &mut Unstructured<'_>, mut flow: Flow, now: u64) -> Result<Flow> {
    for _ in 0..mcp_oauth_fuzz::MAX_STEPS {
        match flow.poll() {
            Action::Send(req) => {
                let resp = answer(u, &req)?;
                flow.handle_response(resp, now);
            }
            Action::Finished => break,
        }
    }
    Ok(flow)
}

fn one_call(u: &mut Unstructured<'_>, c: &mut Client, now: &mut u64) -> Result<()> {
    let method = *u.choose(&["POST", "GET", "DELETE"])?;
    let url = if u.ratio(1, 16)? {
        text(u)?
    } else {
        SERVER.to_string()
    };
    let mut call = Call::new(method, &url);
    for _ in 0..24 {
        let mut seed = 0u8;
        let mut random = |buf: &mut [u8]| {
            seed = seed.wrapping_add(1);
            buf.fill(seed);
        };
        let action = call.poll(c, &mut || *now, &mut random);
        match action {
            CallAction::Send(_headers) => {
                if u.ratio(1, 10)? {
                    call.send_failed(TransportError::Failed("reset".into()));
                } else {
                    let status = status(u)?;
                    let www = challenge(u)?;
                    let nonce = if u.ratio(1, 4)? { Some(text(u)?) } else { None };
                    let head = ResponseHead {
                        status,
                        www_authenticate: www.as_deref(),
                        dpop_nonce: nonce.as_deref(),
                    };
                    call.response(c, &head);
                    if u.ratio(1, 16)? {
                        // Reported twice.
                        call.response(c, &head);
                    }
                }
            }
            CallAction::Run(flow) => {
                let flow = run_flow(u, *flow, *now)?;
                call.flow_done(c, Box::new(flow), *now);
            }
            CallAction::ReadRefusal => call.refusal_read(text(u)?),
            CallAction::Deliver | CallAction::Fail(_) => break,
        }
        if u.ratio(1, 32)? {
            // Out of order: a refusal read or a failure nobody asked for.
            call.refusal_read(String::new());
        }
        *now += u64::from(u.int_in_range(0u16..=900)?);
    }
    Ok(())
}

fn run(u: &mut Unstructured<'_>) -> Result<()> {
    let selector: u8 = u.arbitrary()?;
    let mut c = client(selector);
    let mut now = NOW;
    if u.arbitrary()? {
        // Hold a token first, obtained from the good server.
        let start = c.authorize(SERVER, Some("Bearer"), now, entropy(selector));
        if let Ok(mcp_oauth_core::Grant::Redirect(p)) =
            begin(&mut c, start, &mut core::iter::empty(), true, now)
        {
            let state = mcp_oauth_fuzz::query_param(&p.authorization_url, "state").unwrap();
            let callback = format!(
                "{}?code=c&state={state}&iss=https%3A%2F%2Fauth.example.com",
                mcp_oauth_fuzz::REDIRECT
            );
            let done = c.complete_authorization(&callback, now, entropy(2));
            let _ = begin(&mut c, done, &mut core::iter::empty(), true, now);
        }
        now += u64::from(u.int_in_range(0u16..=1200)?);
    }
    for _ in 0..u.int_in_range(1..=3)? {
        one_call(u, &mut c, &mut now)?;
    }
    inspect(&mut c, now);
    Ok(())
}

fuzz_target!(|data: &[u8]| {
    let _ = run(&mut Unstructured::new(data));
});
