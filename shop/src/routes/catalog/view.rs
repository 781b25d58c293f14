//! What catalogue templates get: cards, pictures and pagers made from catalogue data, with the
//! stock words already chosen (so templates never decide what stock to claim).

use super::super::path_segment;
use crate::catalog::Catalogue;
use crate::db::catalog::{Card, Picture};
use crate::domain::paging::Page;
use crate::domain::stock::Lag;

pub const PLACEHOLDER: &str = "/static/hat-placeholder.svg";

pub struct CardView {
    pub href: String,
    pub name: String,
    pub price: String,
    pub stock_text: String,
    pub stock_level: &'static str,
    pub picture: PictureView,
}

/// A `<picture>`: WebP thumbnails with `srcset`, the JPEG ones as the `<img>` fallback, when the
/// picture is ready; the placeholder otherwise.
pub struct PictureView {
    pub src: String,
    /// JPEG (or, when there is no JPEG, WebP) thumbnails for the `<img>`.
    pub srcset: String,
    /// WebP thumbnails for `<source type="image/webp">`; empty when there are none.
    pub webp_srcset: String,
    pub sizes: &'static str,
    pub alt: String,
    pub placeholder: bool,
}

impl PictureView {
    /// `sizes` says how wide the picture is drawn, so the browser picks the right thumbnail.
    pub fn new(
        picture: Option<&Picture>,
        name: &str,
        media_base_url: &str,
        sizes: &'static str,
    ) -> Self {
        let Some(picture) = picture else {
            return Self {
                src: PLACEHOLDER.to_owned(),
                srcset: String::new(),
                webp_srcset: String::new(),
                sizes,
                // Decorative: the hat's name is right beside it.
                alt: String::new(),
                placeholder: true,
            };
        };
        let base = media_base_url.trim_end_matches('/');
        let url = |key: &str| {
            let path: Vec<String> = key.split('/').map(path_segment).collect();
            format!("{base}/{}", path.join("/"))
        };
        let srcset = |variants: &[(u32, String)]| {
            variants
                .iter()
                .map(|(width, key)| format!("{} {width}w", url(key)))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let (img, webp) = if picture.fallback.is_empty() {
            (&picture.variants, &[][..])
        } else {
            (&picture.fallback, &picture.variants[..])
        };
        // The `src` for browsers without `srcset`: the smallest at least 480 px wide, else the
        // largest.
        let src = img
            .iter()
            .find(|(w, _)| *w >= 480)
            .or_else(|| img.last())
            .map_or_else(|| PLACEHOLDER.to_owned(), |(_, key)| url(key));
        Self {
            src,
            srcset: srcset(img),
            webp_srcset: srcset(webp),
            sizes,
            alt: picture
                .alt_text
                .clone()
                .filter(|a| !a.trim().is_empty())
                .unwrap_or_else(|| name.to_owned()),
            placeholder: false,
        }
    }
}

pub fn product_href(item_key: &str) -> String {
    format!("/hats/{}", path_segment(item_key))
}

/// One page of a list of hats, as the list pages (home, category, search) show it.
pub struct ListPage {
    pub cards: Vec<CardView>,
    /// How many hats the whole list has.
    pub total: usize,
    pub pager: Pager,
}

/// Where a list's pager links: the list's path and the query parameters to keep.
pub struct PagerLink<'a> {
    pub base: &'a str,
    pub extra: &'a [(&'a str, &'a str)],
}

impl ListPage {
    /// The `page` (clamped to the list) of `hats`, with stock words for `lag`.
    pub fn of(
        catalogue: &Catalogue,
        hats: &[Card],
        lag: Lag,
        media_base_url: &str,
        page: Option<&str>,
        link: PagerLink<'_>,
    ) -> Self {
        let at = Page::clamp(page, hats.len(), catalogue.settings().page_size);
        Self {
            cards: cards(catalogue, &hats[at.range(hats.len())], lag, media_base_url),
            total: hats.len(),
            pager: Pager::new(&at, link.base, link.extra),
        }
    }
}

pub fn cards(
    catalogue: &Catalogue,
    cards: &[Card],
    lag: Lag,
    media_base_url: &str,
) -> Vec<CardView> {
    cards
        .iter()
        .map(|card| {
            let wording = catalogue.wording(card.available, lag);
            CardView {
                href: product_href(&card.item_key),
                name: card.name.clone(),
                price: card.price.map(|p| p.to_string()).unwrap_or_default(),
                stock_text: wording.text(),
                stock_level: wording.level(),
                picture: PictureView::new(
                    card.picture.as_ref(),
                    &card.name,
                    media_base_url,
                    "(max-width: 40rem) 100vw, 16rem",
                ),
            }
        })
        .collect()
}

/// Previous / next links and "Page 2 of 3".
pub struct Pager {
    pub number: usize,
    pub last: usize,
    pub previous: Option<String>,
    pub next: Option<String>,
}

impl Pager {
    /// `base` is the list's path; `extra` the query parameters to keep (the search text).
    pub fn new(page: &Page, base: &str, extra: &[(&str, &str)]) -> Self {
        let href = |n: usize| {
            let mut query = form_urlencoded::Serializer::new(String::new());
            for (k, v) in extra {
                query.append_pair(k, v);
            }
            if n > 1 {
                query.append_pair("page", &n.to_string());
            }
            let query = query.finish();
            if query.is_empty() {
                base.to_owned()
            } else {
                format!("{base}?{query}")
            }
        };
        Self {
            number: page.number,
            last: page.last,
            previous: page.previous().map(href),
            next: page.next().map(href),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pictures_get_srcset_and_placeholders() {
        let picture = Picture {
            variants: vec![
                (160, "items/17/160.webp".to_owned()),
                (480, "items/17/480.webp".to_owned()),
            ],
            fallback: vec![
                (160, "items/17/160.jpg".to_owned()),
                (480, "items/17/480.jpg".to_owned()),
                (960, "items/17/960.jpg".to_owned()),
            ],
            alt_text: None,
        };
        let v = PictureView::new(Some(&picture), "Bowler", "http://cdn/media/", "100vw");
        assert_eq!(v.src, "http://cdn/media/items/17/480.jpg");
        assert_eq!(
            v.webp_srcset,
            "http://cdn/media/items/17/160.webp 160w, http://cdn/media/items/17/480.webp 480w"
        );
        assert_eq!(
            v.srcset,
            "http://cdn/media/items/17/160.jpg 160w, http://cdn/media/items/17/480.jpg 480w, \
             http://cdn/media/items/17/960.jpg 960w"
        );
        assert_eq!(v.alt, "Bowler");
        let webp_only = Picture {
            fallback: vec![],
            ..picture
        };
        let v = PictureView::new(Some(&webp_only), "Bowler", "http://cdn/media", "100vw");
        assert_eq!(v.src, "http://cdn/media/items/17/480.webp");
        assert!(v.webp_srcset.is_empty());
        let none = PictureView::new(None, "Bowler", "http://cdn/media", "100vw");
        assert!(none.placeholder && none.srcset.is_empty());
    }

    #[test]
    fn pager_links_keep_the_query() {
        let page = Page::clamp(Some("2"), 60, 24);
        let pager = Pager::new(&page, "/search", &[("q", "top hat&")]);
        assert_eq!(pager.previous.as_deref(), Some("/search?q=top+hat%26"));
        assert_eq!(pager.next.as_deref(), Some("/search?q=top+hat%26&page=3"));
    }
}
