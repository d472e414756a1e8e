//! The browser view of a subscription (`Accept: text/html`): one static page, no script,
//! with a QR code per device (the `.conf` or share link, from the device's artifact), a
//! download button per device, the subscription URL as a QR code, and import links into the
//! client apps.

use std::fmt::Write as _;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use percent_encoding::{utf8_percent_encode, NON_ALPHANUMERIC};

use super::headers::Vars;
use super::links::SubLink;

/// Import links of the apps that take a subscription URL: (app, deep link), where `{url}` is
/// the percent-encoded subscription URL and `{raw}` the URL as is.
const APPS: [(&str, &str); 6] = [
    ("Happ", "happ://add/{raw}"),
    ("v2rayNG", "v2rayng://install-config?url={url}"),
    ("Clash Verge / FlClash", "clash://install-config?url={url}"),
    ("Hiddify", "hiddify://import/{raw}"),
    (
        "sing-box (SFA/SFI/SFM)",
        "sing-box://import-remote-profile?url={url}",
    ),
    ("Karing", "karing://install-config?url={url}"),
];

/// HTML-escapes text for element content and quoted attributes.
fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// `<img>` of a QR code of `text`, or a line saying why there is none.
fn qr_img(text: &str, alt: &str) -> String {
    match vpnkeeper_render::qr_png(text) {
        Ok(png) => format!(
            "<img class=\"qr\" alt=\"{}\" src=\"data:image/png;base64,{}\">",
            esc(alt),
            STANDARD.encode(png)
        ),
        Err(e) => format!("<p class=\"note\">No QR code: {}</p>", esc(&e.to_string())),
    }
}

const STYLE: &str = "body{font-family:system-ui,sans-serif;max-width:46rem;margin:1rem auto;padding:0 1rem;color:#222}\
section{border:1px solid #ccc;border-radius:.5rem;padding:1rem;margin:1rem 0}\
img.qr{width:320px;height:320px;image-rendering:pixelated;display:block}\
a.button{display:inline-block;padding:.5rem 1rem;border-radius:.4rem;background:#2563eb;color:#fff;text-decoration:none;margin:.5rem .5rem 0 0}\
.note{color:#a15c00}";

/// The page for a user whose `links` (all usable devices) are listed under `sub_url`.
/// `active` false shows only why access ended.
pub fn render(vars: &Vars, title: &str, sub_url: &str, links: &[SubLink], active: bool) -> String {
    let mut h = String::new();
    let _ = write!(
        h,
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">\
         <meta name=\"robots\" content=\"noindex\"><title>{t}</title><style>{STYLE}</style></head>\
         <body><h1>{t}</h1><p>Days left: {d} · Traffic left: {tr} · Expires: {e}</p>",
        t = esc(title),
        d = esc(&vars.days_left),
        tr = esc(&vars.traffic_left),
        e = esc(&vars.expire_date),
    );
    if !active {
        h.push_str("<p class=\"note\">Access has ended: the account is disabled, expired or over its traffic limit. Contact support.</p></body></html>");
        return h;
    }
    if links.is_empty() {
        h.push_str(
            "<p class=\"note\">No devices yet: add one in the bot or ask your administrator.</p>",
        );
    }
    for l in links {
        let a = &l.artifact;
        let _ = write!(
            h,
            "<section class=\"device\"><h2>{name}</h2>{qr}\
             <a class=\"button\" download=\"{file}\" href=\"{sub}/devices/{uuid}/config\">Download {file}</a></section>",
            name = esc(&l.name),
            qr = qr_img(a.qr_payload(), &format!("QR code of {}", l.name)),
            file = esc(&a.file_name),
            sub = esc(sub_url),
            uuid = l.device_uuid,
        );
    }
    let encoded = utf8_percent_encode(sub_url, NON_ALPHANUMERIC).to_string();
    h.push_str("<section class=\"apps\"><h2>Add to an app</h2><p>");
    for (app, template) in APPS {
        let href = template
            .replace("{url}", &encoded)
            .replace("{raw}", sub_url);
        let _ = write!(
            h,
            "<a class=\"button\" href=\"{}\">{}</a>",
            esc(&href),
            esc(app)
        );
    }
    let _ = write!(
        h,
        "</p><p>Or copy the subscription URL: <code>{u}</code></p>{qr}</section></body></html>",
        u = esc(sub_url),
        qr = qr_img(sub_url, "QR code of the subscription URL"),
    );
    h
}

/// True when the request prefers a page to a profile: a browser sends `text/html` in
/// `Accept`; client apps send `*/*` or nothing.
pub fn wants_html(accept: Option<&str>) -> bool {
    accept.is_some_and(|a| {
        a.split(',')
            .any(|part| part.trim().starts_with("text/html"))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn browsers_get_the_page_apps_do_not() {
        assert!(wants_html(Some(
            "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
        )));
        assert!(!wants_html(Some("*/*")));
        assert!(!wants_html(None));
    }

    #[test]
    fn text_is_escaped() {
        assert_eq!(
            esc("<a href=\"x\">&'"),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;"
        );
    }
}
