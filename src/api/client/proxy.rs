//! Which proxy a request takes: curl's environment rules (`HTTPS_PROXY`, `HTTP_PROXY`,
//! `ALL_PROXY`, `NO_PROXY`, upper case first, none under CGI), applied by hyper-util's
//! matcher as reqwest applies them, except that a loopback target never goes through a
//! proxy. Decided here once, so that the transport can refuse a hop before it is taken and
//! `-v` can name it.

use hyper_util::client::proxy::matcher::Matcher;
use url::Url;

use super::transport::is_loopback;

/// The proxy settings of the environment this process started in.
#[derive(Clone)]
pub(super) struct Proxies {
    matcher: std::sync::Arc<Matcher>,
    /// The proxy URL, as configured (credentials included), for http:// targets.
    http: Option<String>,
    /// The same for https:// targets.
    https: Option<String>,
}

impl Proxies {
    pub(super) fn from_env() -> Proxies {
        let var = |names: &[&str]| {
            names
                .iter()
                .find_map(|n| std::env::var(n).ok().filter(|v| !v.trim().is_empty()))
        };
        // A CGI program's HTTP_PROXY may come from a request header (httpoxy): no proxy.
        let cgi = std::env::var_os("REQUEST_METHOD").is_some();
        let all = var(&["ALL_PROXY", "all_proxy"]);
        let http = var(&["HTTP_PROXY", "http_proxy"]).or_else(|| all.clone());
        let https = var(&["HTTPS_PROXY", "https_proxy"]).or_else(|| all.clone());
        let no = var(&["NO_PROXY", "no_proxy"]).unwrap_or_default();
        let mut builder = Matcher::builder().no(no);
        if !cgi {
            builder = builder
                .http(http.clone().unwrap_or_default())
                .https(https.clone().unwrap_or_default());
        }
        Proxies {
            matcher: std::sync::Arc::new(builder.build()),
            http: http.filter(|_| !cgi),
            https: https.filter(|_| !cgi),
        }
    }

    /// The proxy a request to `url` goes through, as configured; `None` for a direct
    /// connection (always for loopback).
    pub(super) fn for_url(&self, url: &Url) -> Option<&str> {
        if is_loopback(url) {
            return None;
        }
        let uri: http::Uri = url.as_str().parse().ok()?;
        self.matcher.intercept(&uri)?;
        match url.scheme() {
            "http" => self.http.as_deref(),
            "https" => self.https.as_deref(),
            _ => None,
        }
    }

    /// The same decision, as reqwest's proxy setting.
    pub(super) fn reqwest_proxy(&self) -> reqwest::Proxy {
        let me = self.clone();
        reqwest::Proxy::custom(move |url| me.for_url(url).map(str::to_string))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn proxies(http: &str, https: &str, no: &str) -> Proxies {
        Proxies {
            matcher: std::sync::Arc::new(Matcher::builder().http(http).https(https).no(no).build()),
            http: Some(http.to_string()).filter(|s| !s.is_empty()),
            https: Some(https.to_string()).filter(|s| !s.is_empty()),
        }
    }

    #[test]
    fn loopback_never_goes_through_a_proxy() {
        let p = proxies("http://proxy.example:3128", "http://proxy.example:3128", "");
        for direct in [
            "http://127.0.0.1:14242/",
            "http://127.8.0.1/",
            "https://localhost:1/",
            "http://[::1]:8080/",
            "http://[::ffff:127.0.0.1]/",
        ] {
            assert_eq!(p.for_url(&Url::parse(direct).unwrap()), None, "{direct}");
        }
        let via = p.for_url(&Url::parse("http://gw.example/").unwrap());
        assert_eq!(via, Some("http://proxy.example:3128"));
    }

    #[test]
    fn no_proxy_and_scheme_decide() {
        let p = proxies("http://hp:1", "http://sp:2", "internal.example,10.0.0.0/8");
        let via = |u: &str| p.for_url(&Url::parse(u).unwrap()).map(str::to_string);
        assert_eq!(via("https://gw.example/").as_deref(), Some("http://sp:2"));
        assert_eq!(via("http://gw.example/").as_deref(), Some("http://hp:1"));
        assert_eq!(via("https://a.internal.example/"), None);
        assert_eq!(via("https://10.1.2.3/"), None);
        let p = proxies("", "", "");
        assert_eq!(p.for_url(&Url::parse("https://gw.example/").unwrap()), None);
    }
}
