//! The public forms as people use them: errors that name their field and say where (the error
//! summary links to each field, every invalid field is marked for screen readers), a notice's
//! bad link named by its line, a link typed without its scheme, the language links of step 2
//! that keep the photo, and the frame of every page (skip link, autocomplete). In English and
//! Thai.

mod common;

use common::{App, Reply};
use http::Method;

/// Posts a urlencoded form.
async fn post_form(app: &App, path: &str, fields: &[(&str, &str)]) -> Reply {
    let body = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(fields)
        .finish();
    app.send(
        Method::POST,
        path,
        &[("content-type", "application/x-www-form-urlencoded")],
        body,
    )
    .await
}

/// The start tag of the element with `id` (`<input ... id="x" ...>`).
fn tag<'a>(html: &'a str, id: &str) -> &'a str {
    let needle = format!(" id=\"{id}\"");
    let at = html
        .find(&needle)
        .unwrap_or_else(|| panic!("no element #{id}"));
    let start = html[..at].rfind('<').unwrap();
    let end = at + html[at..].find('>').unwrap();
    &html[start..=end]
}

/// The value of attribute `name` in a start tag.
fn attr<'a>(tag: &'a str, name: &str) -> Option<&'a str> {
    let needle = format!(" {name}=\"");
    let at = tag.find(&needle)? + needle.len();
    Some(&tag[at..at + tag[at..].find('"')?])
}

/// The text of the element with `id` (tags removed, entities as maud writes them).
fn text_of(html: &str, id: &str) -> String {
    let t = tag(html, id);
    let at = html.find(t).unwrap() + t.len();
    let name = t[1..].split([' ', '>']).next().unwrap();
    let end = at + html[at..].find(&format!("</{name}>")).unwrap();
    let mut out = String::new();
    let mut in_tag = false;
    for c in html[at..end].chars() {
        match c {
            '<' => in_tag = true,
            '>' => in_tag = false,
            c if !in_tag => out.push(c),
            _ => {}
        }
    }
    out
}

/// Checks what an invalid field must have: `aria-invalid`, an `aria-describedby` that names
/// its error first (and its help text, when it has one), the error's text, and a link to it in
/// the error summary.
fn assert_invalid(html: &str, field: &str, message: &str) {
    let t = tag(html, field);
    assert_eq!(attr(t, "aria-invalid"), Some("true"), "{t}");
    let ids: Vec<&str> = attr(t, "aria-describedby")
        .unwrap_or_else(|| panic!("no aria-describedby: {t}"))
        .split(' ')
        .collect();
    assert_eq!(ids[0], format!("{field}-error"), "{t}");
    for id in &ids {
        tag(html, id);
    }
    let error = text_of(html, &format!("{field}-error"));
    assert!(error.contains(message), "#{field}-error: {error}");
    let summary = text_of(html, "error-summary");
    assert!(summary.contains(message), "summary: {summary}");
    assert!(
        html.contains(&format!("<a href=\"#{field}\">")),
        "the summary links to #{field}"
    );
}

async fn form_token(app: &App, path: &str) -> String {
    let page = app.get(path, &[]).await;
    assert_eq!(page.status, 200);
    attr(tag(&page.body, "request-form"), "id").unwrap();
    let at = page.body.find("name=\"form_token\" value=\"").unwrap() + 25;
    page.body[at..at + page.body[at..].find('"').unwrap()].to_owned()
}

#[tokio::test]
async fn an_empty_notice_names_each_missing_field_in_both_languages() {
    let app = App::new();
    let en = [
        ("country", "Choose your country of residence."),
        ("first_name", "Enter your first name."),
        ("last_name", "Enter your last name."),
        ("email", "Enter your email address."),
        ("phone", "Enter your phone number."),
        ("source_urls", "Enter at least one link to an image"),
        ("reason", "Tell us why you are asking."),
        ("good_faith", "good-faith statement"),
    ];
    let th = [
        ("country", "โปรดเลือกประเทศที่คุณพำนัก"),
        ("first_name", "โปรดกรอกชื่อของคุณ"),
        ("last_name", "โปรดกรอกนามสกุลของคุณ"),
        ("email", "โปรดกรอกอีเมลของคุณ"),
        ("phone", "โปรดกรอกหมายเลขโทรศัพท์ของคุณ"),
        ("source_urls", "โปรดกรอกลิงก์ของรูปภาพอย่างน้อยหนึ่งลิงก์"),
        ("reason", "โปรดอธิบายเหตุผลของคำขอ"),
        ("good_faith", "คำยืนยันโดยสุจริต"),
    ];
    for (lang, expected) in [("en", en), ("th", th)] {
        let token = form_token(&app, &format!("/dsa?lang={lang}")).await;
        let r = post_form(&app, "/dsa", &[("lang", lang), ("form_token", &token)]).await;
        assert_eq!(r.status, 422);
        let html = &r.body;
        assert!(html.contains(&format!("<html lang=\"{lang}\">")));
        assert!(!html.contains("This field is required.") && !html.contains("โปรดกรอกช่องนี้"));
        for (field, message) in expected {
            assert_invalid(html, field, message);
        }
        // Help texts are named too, after the error.
        assert_eq!(
            attr(tag(html, "email"), "aria-describedby"),
            Some("email-error email-help")
        );
        // The summary: focused on load, without JavaScript, listing each problem once.
        let summary = tag(html, "error-summary");
        assert!(summary.contains(" autofocus") && summary.contains("tabindex=\"-1\""));
        assert_eq!(
            html.matches("<li>").count(),
            expected.len(),
            "one line per problem"
        );
    }
}

#[tokio::test]
async fn a_message_that_does_not_name_its_field_gets_its_label_in_the_summary() {
    let app = App::new();
    let token = form_token(&app, "/dsa").await;
    let r = post_form(
        &app,
        "/dsa",
        &[
            ("lang", "en"),
            ("form_token", &token),
            ("country", "TH"),
            ("first_name", "Somchai"),
            ("last_name", "Jaidee"),
            ("email", "somchai@"),
            ("phone", "+66812345678"),
            ("reason", "These images show me without my consent."),
            ("source_urls", "https://a.example/1.jpg"),
            ("good_faith", "yes"),
        ],
    )
    .await;
    assert_eq!(r.status, 422);
    assert_invalid(&r.body, "email", "not a valid email address");
    assert!(
        r.body
            .contains("<a href=\"#email\">Email: This is not a valid email address")
    );
    // The valid fields are not marked.
    for field in ["country", "first_name", "last_name", "phone", "source_urls"] {
        let t = tag(&r.body, field);
        assert_eq!(attr(t, "aria-invalid"), None, "{t}");
        assert!(!r.body.contains(&format!("id=\"{field}-error\"")));
    }
}

#[tokio::test]
async fn a_bad_link_of_a_notice_is_named_by_its_line_and_a_missing_scheme_is_added() {
    let app = App::new();
    let long = format!("ftp://images.example.com/{}", "a".repeat(200));
    let links = format!(
        "https://a.example/1.jpg\nwww.example.com/x.jpg\n\nnot a url\njavascript:alert(1)\n{long}\nhttps://A.example/1.jpg"
    );
    for (lang, expected) in [
        (
            "en",
            [
                "Link 4 (not a url) is not a valid web address",
                "Link 5 (javascript:alert(1)) must start with http:// or https://.",
                "Link 6 (ftp://images.example.com/aaaa",
                "Link 7 (https://A.example/1.jpg) is listed twice.",
            ],
        ),
        (
            "th",
            [
                "ลิงก์ที่ 4 (not a url) ไม่ใช่ที่อยู่เว็บที่ถูกต้อง",
                "ลิงก์ที่ 5 (javascript:alert(1)) ต้องขึ้นต้นด้วย http:// หรือ https://",
                "ลิงก์ที่ 6 (ftp://images.example.com/aaaa",
                "ลิงก์ที่ 7 (https://A.example/1.jpg) ซ้ำกับลิงก์ก่อนหน้า",
            ],
        ),
    ] {
        let token = form_token(&app, "/dsa").await;
        let r = post_form(
            &app,
            "/dsa",
            &[
                ("lang", lang),
                ("form_token", &token),
                ("country", "TH"),
                ("first_name", "Somchai"),
                ("last_name", "Jaidee"),
                ("email", "somchai@example.org"),
                ("phone", "+66812345678"),
                ("reason", "These images show me without my consent."),
                ("source_urls", &links),
                ("good_faith", "yes"),
            ],
        )
        .await;
        assert_eq!(r.status, 422);
        let error = text_of(&r.body, "source_urls-error");
        for e in expected {
            assert!(error.contains(e), "{e} missing from: {error}");
            assert_invalid(&r.body, "source_urls", e);
        }
        assert!(
            !error.contains("Link 2") && !error.contains("ลิงก์ที่ 2"),
            "{error}"
        );
        // A long link is shortened, not repeated whole.
        assert!(error.contains("aaa…)") && !error.contains(&long), "{error}");
        assert_eq!(r.body.matches("<li>").count(), 4, "one line per bad link");
        // What was typed is shown again as it was.
        assert!(r.body.contains("www.example.com/x.jpg\n\nnot a url"));
    }

    // Typed without its scheme, a link is read as https.
    let token = form_token(&app, "/dsa").await;
    let r = post_form(
        &app,
        "/dsa",
        &[
            ("lang", "en"),
            ("form_token", &token),
            ("country", "TH"),
            ("first_name", "Somchai"),
            ("last_name", "Jaidee"),
            ("email", "somchai@example.org"),
            ("phone", "+66812345678"),
            ("reason", "These images show me without my consent."),
            (
                "source_urls",
                "www.example.com/x.jpg\nimages.example.org:8443/y.png",
            ),
            ("good_faith", "yes"),
        ],
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let id = text_of(&r.body, "reference");
    let case = app
        .desk
        .ports
        .cases
        .get_case(optout_core::model::CaseId::parse(id.trim()).unwrap())
        .await
        .unwrap()
        .unwrap();
    let links: Vec<&str> = case.source_urls.iter().map(|u| u.as_str()).collect();
    assert_eq!(
        links,
        [
            "https://www.example.com/x.jpg",
            "https://images.example.org:8443/y.png"
        ]
    );
}

/// A valid 320x240 PNG, uploaded through `POST /v1/uploads` and the form it returns; returns
/// the upload key.
async fn upload_photo(app: &App) -> String {
    use image::ImageEncoder;
    let img = image::RgbImage::from_fn(320, 240, |x, y| {
        image::Rgb([(x % 256) as u8, (y % 256) as u8, ((x * y) % 251) as u8])
    });
    let mut png = Vec::new();
    image::codecs::png::PngEncoder::new(&mut png)
        .write_image(img.as_raw(), 320, 240, image::ExtendedColorType::Rgb8)
        .unwrap();
    app.upload_png(&png).await
}

/// The href of the page's link to `lang` (`&amp;` read back).
fn lang_link(html: &str, lang: &str) -> String {
    let t = tag_by(html, &format!("hreflang=\"{lang}\""));
    attr(t, "href").unwrap().replace("&amp;", "&")
}

/// The start tag that holds `needle`.
fn tag_by<'a>(html: &'a str, needle: &str) -> &'a str {
    let at = html.find(needle).unwrap_or_else(|| panic!("no {needle}"));
    let start = html[..at].rfind('<').unwrap();
    &html[start..=at + html[at..].find('>').unwrap()]
}

#[tokio::test]
async fn the_language_links_of_step_2_keep_the_photo() {
    let app = App::new();
    let key = upload_photo(&app).await;
    let q: String = url::form_urlencoded::byte_serialize(key.as_bytes()).collect();
    let page = app.get(&format!("/opt-out?key={q}&lang=en"), &[]).await;
    assert_eq!(page.status, 200);
    let th = lang_link(&page.body, "th");
    assert_eq!(th, format!("/opt-out?key={q}&lang=th"));
    let page = app.get(&th, &[]).await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains("<html lang=\"th\">"));
    assert!(
        page.body
            .contains(&format!("name=\"upload_key\" value=\"{key}\""))
    );
    // Sent with mistakes, the step's links still keep the photo.
    let token = {
        let at = page.body.find("name=\"form_token\" value=\"").unwrap() + 25;
        page.body[at..at + page.body[at..].find('"').unwrap()].to_owned()
    };
    let r = post_form(
        &app,
        "/opt-out",
        &[
            ("lang", "th"),
            ("upload_key", &key),
            ("form_token", &token),
            ("first_name", "สมชาย"),
        ],
    )
    .await;
    assert_eq!(r.status, 422);
    assert_invalid(&r.body, "consent", "ความยินยอม");
    assert_eq!(
        lang_link(&r.body, "en"),
        format!("/opt-out?key={q}&lang=en")
    );
}

#[tokio::test]
async fn every_page_has_a_skip_link_and_the_personal_fields_autocomplete() {
    let app = App::new();
    for path in [
        "/",
        "/dsa",
        "/opt-out",
        "/image-opt-out",
        "/status/nope",
        "/nowhere",
    ] {
        for lang in ["en", "th"] {
            let r = app.get(&format!("{path}?lang={lang}"), &[]).await;
            let skip = tag(&r.body, "main");
            assert!(skip.starts_with("<main"), "{path}");
            let first = r.body.find("<a ").unwrap();
            assert!(
                r.body[first..].starts_with("<a class=\"skip\" href=\"#main\">"),
                "{path}: the skip link comes first"
            );
        }
    }
    let html = app.get("/dsa?lang=th", &[]).await.body;
    assert!(html.contains("ข้ามไปยังเนื้อหาหลัก"));
    for (id, value) in [
        ("country", "country"),
        ("first_name", "given-name"),
        ("last_name", "family-name"),
        ("email", "email"),
        ("phone", "tel"),
    ] {
        assert_eq!(attr(tag(&html, id), "autocomplete"), Some(value), "{id}");
    }
    // No error, no summary, and nothing marked invalid.
    assert!(!html.contains("error-summary") && !html.contains("aria-invalid"));
    assert_eq!(
        attr(tag(&html, "source_urls"), "aria-describedby"),
        Some("source_urls-help")
    );
}

/// A file over the limit is refused at once with a page that says so in the requester's language
/// and leads back to the form it came from (not to the start).
#[tokio::test]
async fn a_photo_too_large_leads_back_to_its_form() {
    let app = App::new();
    let form = app.upload_form().await;
    let big = vec![0u8; 11 * 1024 * 1024];
    let (body, ct) = common::upload_body(form["fields"].as_object().unwrap(), &big, "image/jpeg");
    let referer = format!("{}/image-opt-out?lang=th", common::PUBLIC_URL);
    let r = app
        .send(
            Method::POST,
            "/uploads?lang=th",
            &[("content-type", &ct), ("referer", &referer)],
            body,
        )
        .await;
    assert_eq!(r.status, 413, "{}", r.body);
    assert!(r.body.contains("ยังไม่ได้รับรูปถ่ายของคุณ"), "{}", r.body);
    assert!(
        r.body
            .contains(r#"id="back" href="/image-opt-out?lang=th""#),
        "{}",
        r.body
    );
    // A page of another site is never linked.
    let r = app
        .send(
            Method::POST,
            "/uploads?lang=en",
            &[
                ("content-type", &ct),
                ("referer", "https://evil.example/opt-out"),
                ("content-length", "99999999"),
            ],
            Vec::new(),
        )
        .await;
    assert_eq!(r.status, 413);
    assert!(!r.body.contains("evil.example"), "{}", r.body);
    assert!(r.body.contains("Your photo was not received"), "{}", r.body);
}
