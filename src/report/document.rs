//! A report as data (headings, text, figures, tables) and the two [`Exporter`]s that write it:
//! Markdown that links the plot files, and HTML with every plot embedded so the file stands
//! alone.

use std::fmt::Write as _;

use crate::export::Exporter;

/// One piece of a report.
#[derive(Clone, Debug)]
pub enum Block {
    /// A section heading.
    Heading(String),
    /// A paragraph of plain text.
    Paragraph(String),
    /// A bulleted list.
    List(Vec<String>),
    /// A plot.
    Figure {
        /// What it shows.
        caption: String,
        /// The SVG, relative to the report.
        svg: String,
        /// The PNG, relative to the report.
        png: String,
        /// The PNG's bytes, embedded in HTML.
        png_bytes: Vec<u8>,
    },
    /// A table.
    Table {
        /// Column names.
        header: Vec<String>,
        /// Cells.
        rows: Vec<Vec<String>>,
    },
}

/// A whole report.
#[derive(Clone, Debug)]
pub struct Document {
    /// The title.
    pub title: String,
    /// The contents.
    pub blocks: Vec<Block>,
}

/// `report.md`: plots linked by relative path.
pub struct Markdown;

/// `report.html`: one file, plots embedded as `data:` URIs, no network needed.
pub struct Html;

fn md_cell(text: &str) -> String {
    text.replace('|', "\\|").replace('\n', " ")
}

impl Exporter for Markdown {
    type Input = Document;

    fn file_name(&self) -> &'static str {
        "report.md"
    }

    fn export(&self, doc: &Document) -> String {
        let mut out = format!("# {}\n", doc.title);
        for block in &doc.blocks {
            out.push('\n');
            match block {
                Block::Heading(h) => {
                    let _ = writeln!(out, "## {h}");
                }
                Block::Paragraph(p) => {
                    let _ = writeln!(out, "{p}");
                }
                Block::List(items) => {
                    for i in items {
                        let _ = writeln!(out, "- {i}");
                    }
                }
                Block::Figure {
                    caption, svg, png, ..
                } => {
                    let _ = writeln!(out, "![{caption}]({svg})\n\n*{caption}* ([PNG]({png}))");
                }
                Block::Table { header, rows } => {
                    let _ = writeln!(
                        out,
                        "| {} |",
                        header
                            .iter()
                            .map(|h| md_cell(h))
                            .collect::<Vec<_>>()
                            .join(" | ")
                    );
                    let _ = writeln!(out, "|{}", "---|".repeat(header.len()));
                    for r in rows {
                        let _ = writeln!(
                            out,
                            "| {} |",
                            r.iter().map(|c| md_cell(c)).collect::<Vec<_>>().join(" | ")
                        );
                    }
                }
            }
        }
        out
    }
}

/// Escapes text for HTML content and attributes.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
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

const STYLE: &str = "body{font-family:sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;\
color:#222}table{border-collapse:collapse;font-size:13px;margin:1em 0}th,td{border:1px solid #ccc;\
padding:3px 7px;text-align:left;vertical-align:top}th{background:#f0f0f0}figure{margin:1.5em 0}\
img{max-width:100%;border:1px solid #eee}figcaption{font-size:13px;color:#555}\
td.fail{background:#fde0dc}td.pass{background:#e3f4e1}";

impl Exporter for Html {
    type Input = Document;

    fn file_name(&self) -> &'static str {
        "report.html"
    }

    fn export(&self, doc: &Document) -> String {
        let mut out = format!(
            "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
             <title>{t}</title><style>{STYLE}</style></head><body>\n<h1>{t}</h1>\n",
            t = escape(&doc.title)
        );
        for block in &doc.blocks {
            match block {
                Block::Heading(h) => {
                    let _ = writeln!(out, "<h2>{}</h2>", escape(h));
                }
                Block::Paragraph(p) => {
                    let _ = writeln!(out, "<p>{}</p>", escape(p));
                }
                Block::List(items) => {
                    out.push_str("<ul>");
                    for i in items {
                        let _ = write!(out, "<li>{}</li>", escape(i));
                    }
                    out.push_str("</ul>\n");
                }
                Block::Figure {
                    caption, png_bytes, ..
                } => {
                    let _ = writeln!(
                        out,
                        "<figure><img alt=\"{c}\" src=\"data:image/png;base64,{}\">\
                         <figcaption>{c}</figcaption></figure>",
                        super::base64::encode(png_bytes),
                        c = escape(caption)
                    );
                }
                Block::Table { header, rows } => {
                    out.push_str("<table><tr>");
                    for h in header {
                        let _ = write!(out, "<th>{}</th>", escape(h));
                    }
                    out.push_str("</tr>\n");
                    for r in rows {
                        out.push_str("<tr>");
                        for c in r {
                            let class = match c.as_str() {
                                s if s.ends_with("FAIL") || s == "failed" => " class=\"fail\"",
                                s if s.ends_with("pass") => " class=\"pass\"",
                                _ => "",
                            };
                            let _ = write!(out, "<td{class}>{}</td>", escape(c));
                        }
                        out.push_str("</tr>\n");
                    }
                    out.push_str("</table>\n");
                }
            }
        }
        out.push_str("</body></html>\n");
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc() -> Document {
        Document {
            title: "smoke <1>".into(),
            blocks: vec![
                Block::Heading("Trials".into()),
                Block::Table {
                    header: vec!["a|b".into(), "verdict".into()],
                    rows: vec![vec!["x".into(), "1/1 pass".into()]],
                },
                Block::Figure {
                    caption: "goodput".into(),
                    svg: "plots/g.svg".into(),
                    png: "plots/g.png".into(),
                    png_bytes: vec![1, 2, 3],
                },
            ],
        }
    }

    #[test]
    fn markdown_links_files_and_escapes_pipes() {
        let md = Markdown.export(&doc());
        assert!(md.starts_with("# smoke <1>\n"));
        assert!(md.contains("| a\\|b | verdict |"));
        assert!(md.contains("![goodput](plots/g.svg)"));
    }

    #[test]
    fn markdown_of_every_block() {
        let mut doc = doc();
        doc.blocks.splice(
            0..0,
            [
                Block::Paragraph("two runs".into()),
                Block::List(vec!["one".into(), "two".into()]),
            ],
        );
        assert_eq!(Markdown.file_name(), "report.md");
        assert_eq!(
            Markdown.export(&doc),
            "# smoke <1>\n\
             \n\
             two runs\n\
             \n\
             - one\n\
             - two\n\
             \n\
             ## Trials\n\
             \n\
             | a\\|b | verdict |\n\
             |---|---|\n\
             | x | 1/1 pass |\n\
             \n\
             ![goodput](plots/g.svg)\n\
             \n\
             *goodput* ([PNG](plots/g.png))\n"
        );
    }

    #[test]
    fn html_embeds_and_escapes() {
        let html = Html.export(&doc());
        assert!(html.contains("<title>smoke &lt;1&gt;</title>"));
        assert!(html.contains("src=\"data:image/png;base64,AQID\""));
        assert!(html.contains("<td class=\"pass\">1/1 pass</td>"));
        assert!(!html.contains("plots/g.svg"), "HTML stands alone");
    }
}
