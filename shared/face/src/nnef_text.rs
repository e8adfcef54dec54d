//! A linear-time reader of NNEF graph text, building the same AST as tract's parser.
//!
//! tract 0.23's NNEF text parser backtracks on every nesting level (each subscript attempt parses
//! its operand twice), so the ~35 kB `graph.nnef` of a prepared model took 8–12 ms to parse: a
//! third of the cold load. This recursive-descent reader follows the same grammar and the same
//! precedence (`ite` > `in` > `||`/`&&` > comparisons > `+`/`-` > `*`/`/` > `^` > subscript >
//! atom), with tract's quirks kept (a unary operator applies to the whole expression that follows;
//! `-1` is a numeric literal; literals are tried before identifiers), and returns
//! [`tract_nnef::ast::Document`] for tract to translate.
//!
//! Safety net: the preparation step parses every written graph with both readers and refuses to
//! finish unless the two documents are equal, and the tests compare them on the prepared models
//! and on tract's whole standard library. Text this reader does not accept gets an error, and the
//! loader then falls back to tract's parser.

use tract_nnef::ast::{
    Argument, Assignment, Comprehension, Document, FragmentDecl, FragmentDef, GraphDef, Identifier,
    IfThenElse, Invocation, LValue, Literal, Parameter, RValue, Result_, Subscript, TypeName,
    TypeSpec,
};

/// Why the text was not accepted, and where (byte offset).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("NNEF text at byte {at}: {what}")]
pub struct SyntaxError {
    pub at: usize,
    pub what: String,
}

type Res<T> = Result<T, SyntaxError>;

/// Parse a whole NNEF document (version, extensions, fragments, graph).
pub fn parse_document(text: &str) -> Res<Document> {
    let mut p = Parser {
        s: text.as_bytes(),
        text,
        i: 0,
    };
    let doc = p.document()?;
    p.ws();
    if p.i != p.s.len() {
        return Err(p.err("unexpected text after the graph"));
    }
    Ok(doc)
}

/// Parse a sequence of fragment definitions (what tract's `parse_fragments` accepts).
pub fn parse_fragments(text: &str) -> Res<Vec<FragmentDef>> {
    let mut p = Parser {
        s: text.as_bytes(),
        text,
        i: 0,
    };
    let frags = p.fragments()?;
    p.ws();
    if p.i != p.s.len() {
        return Err(p.err("unexpected text after the fragments"));
    }
    Ok(frags)
}

struct Parser<'a> {
    s: &'a [u8],
    text: &'a str,
    i: usize,
}

fn is_ident_start(c: u8) -> bool {
    c.is_ascii_alphabetic() || c == b'_'
}

fn is_ident_char(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_'
}

impl<'a> Parser<'a> {
    fn err(&self, what: &str) -> SyntaxError {
        SyntaxError {
            at: self.i,
            what: what.to_string(),
        }
    }

    fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }

    /// Skip spaces, tabs, line breaks and `#` comments.
    fn ws(&mut self) {
        while let Some(c) = self.peek() {
            match c {
                b' ' | b'\t' | b'\n' | b'\r' => self.i += 1,
                b'#' => {
                    while let Some(c) = self.peek() {
                        if c == b'\r' || c == b'\n' {
                            break;
                        }
                        self.i += 1;
                    }
                }
                _ => break,
            }
        }
    }

    fn rest(&self) -> &'a [u8] {
        &self.s[self.i..]
    }

    /// After optional spaces: does the text continue with `t`? Consumes it (and the spaces) if so.
    fn eat(&mut self, t: &str) -> bool {
        let save = self.i;
        self.ws();
        if self.rest().starts_with(t.as_bytes()) {
            self.i += t.len();
            true
        } else {
            self.i = save;
            false
        }
    }

    fn expect(&mut self, t: &str) -> Res<()> {
        if self.eat(t) {
            Ok(())
        } else {
            self.ws();
            Err(self.err(&format!("expected `{t}`")))
        }
    }

    /// Does the text continue with `t` after optional spaces (nothing consumed)?
    fn at(&mut self, t: &str) -> bool {
        let save = self.i;
        let found = self.eat(t);
        self.i = save;
        found
    }

    /// Keyword: `t` not followed by an identifier character.
    fn at_keyword(&mut self, t: &str) -> bool {
        let save = self.i;
        self.ws();
        let found = self.rest().starts_with(t.as_bytes())
            && !self
                .s
                .get(self.i + t.len())
                .is_some_and(|c| is_ident_char(*c));
        self.i = save;
        found
    }

    fn slice(&self, from: usize, to: usize) -> &'a str {
        // every boundary used here sits next to an ASCII byte
        &self.text[from..to]
    }

    // ---- terminals

    fn identifier(&mut self) -> Res<Identifier> {
        self.ws();
        if self.peek() == Some(b'i') && matches!(self.s.get(self.i + 1), Some(b'"' | b'\'')) {
            self.i += 1;
            return Ok(Identifier(self.string_literal()?));
        }
        match self.peek() {
            Some(c) if is_ident_start(c) => {
                let start = self.i;
                while self.peek().is_some_and(is_ident_char) {
                    self.i += 1;
                }
                Ok(Identifier(self.slice(start, self.i).to_string()))
            }
            _ => Err(self.err("expected an identifier")),
        }
    }

    /// `-`? (digits | `inf`) (`.` digits*)? ([eE] [+-]? digits)?, returned as written.
    fn numeric_literal(&mut self) -> Option<String> {
        let save = self.i;
        self.ws();
        let start = self.i;
        if self.peek() == Some(b'-') {
            self.i += 1;
        }
        let digits = |p: &mut Self| {
            let from = p.i;
            while p.peek().is_some_and(|c| c.is_ascii_digit()) {
                p.i += 1;
            }
            p.i > from
        };
        if !digits(self) {
            if self.rest().starts_with(b"inf") {
                self.i += 3;
            } else {
                self.i = save;
                return None;
            }
        }
        if self.peek() == Some(b'.') {
            self.i += 1;
            digits(self);
        }
        if matches!(self.peek(), Some(b'e' | b'E')) {
            let before_exp = self.i;
            self.i += 1;
            if matches!(self.peek(), Some(b'+' | b'-')) {
                self.i += 1;
            }
            if !digits(self) {
                self.i = before_exp;
            }
        }
        Some(self.slice(start, self.i).to_string())
    }

    /// A quoted string (either quote), backslash escaping the next character.
    fn string_literal(&mut self) -> Res<String> {
        let quote = match self.peek() {
            Some(q @ (b'"' | b'\'')) => q,
            _ => return Err(self.err("expected a string")),
        };
        self.i += 1;
        let mut out = String::new();
        let mut chars = self.text[self.i..].char_indices();
        while let Some((off, c)) = chars.next() {
            match c {
                '\\' => match chars.next() {
                    Some((_, e)) => out.push(e),
                    None => break,
                },
                '"' | '\'' => {
                    if c as u32 == u32::from(quote) {
                        self.i += off + 1;
                        return Ok(out);
                    }
                    // tract's reader stops a string at either quote
                    self.i += off;
                    return Err(self.err("mismatched quote in a string"));
                }
                c => out.push(c),
            }
        }
        Err(self.err("unterminated string"))
    }

    fn literal(&mut self) -> Res<Option<Literal>> {
        if let Some(n) = self.numeric_literal() {
            return Ok(Some(Literal::Numeric(n)));
        }
        self.ws();
        if matches!(self.peek(), Some(b'"' | b'\'')) {
            return Ok(Some(Literal::String(self.string_literal()?)));
        }
        // tract matches the words as prefixes
        if self.eat("true") {
            return Ok(Some(Literal::Logical(true)));
        }
        if self.eat("false") {
            return Ok(Some(Literal::Logical(false)));
        }
        Ok(None)
    }

    fn literal_expr(&mut self) -> Res<Literal> {
        if let Some(l) = self.literal()? {
            return Ok(l);
        }
        for (open, close, array) in [("[", "]", true), ("(", ")", false)] {
            if self.eat(open) {
                let mut items = Vec::new();
                if !self.eat(close) {
                    loop {
                        match self.literal()? {
                            Some(l) => items.push(l),
                            None => return Err(self.err("expected a literal")),
                        }
                        if self.eat(close) {
                            break;
                        }
                        self.expect(",")?;
                    }
                }
                return Ok(if array {
                    Literal::Array(items)
                } else {
                    Literal::Tuple(items)
                });
            }
        }
        Err(self.err("expected a literal"))
    }

    // ---- types

    fn type_name(&mut self) -> Option<TypeName> {
        for (word, t) in [
            ("integer", TypeName::Integer),
            ("scalar", TypeName::Scalar),
            ("logical", TypeName::Logical),
            ("string", TypeName::String),
            ("?", TypeName::Any),
        ] {
            if self.eat(word) {
                return Some(t);
            }
        }
        None
    }

    fn non_array_type(&mut self) -> Res<TypeSpec> {
        if self.eat("(") {
            let mut items = Vec::new();
            if !self.eat(")") {
                loop {
                    items.push(self.type_spec()?);
                    if self.eat(")") {
                        break;
                    }
                    self.expect(",")?;
                }
            }
            return Ok(TypeSpec::Tuple(items));
        }
        if let Some(t) = self.type_name() {
            return Ok(TypeSpec::Single(t));
        }
        if self.eat("tensor") {
            self.expect("<")?;
            let t = self
                .type_name()
                .ok_or_else(|| self.err("expected a type name"))?;
            self.expect(">")?;
            return Ok(TypeSpec::Tensor(t));
        }
        Err(self.err("expected a type"))
    }

    fn type_spec(&mut self) -> Res<TypeSpec> {
        let t = self.non_array_type()?;
        let save = self.i;
        if self.eat("[") {
            if self.eat("]") {
                return Ok(TypeSpec::Array(Box::new(t)));
            }
            self.i = save;
        }
        Ok(t)
    }

    // ---- document

    fn document(&mut self) -> Res<Document> {
        self.expect("version")?;
        let version = self
            .numeric_literal()
            .ok_or_else(|| self.err("expected the version number"))?;
        self.expect(";")?;
        let mut extension = Vec::new();
        while self.at_keyword("extension") {
            self.expect("extension")?;
            let id = self.identifier()?;
            self.ws();
            let start = self.i;
            let end = self
                .rest()
                .iter()
                .position(|c| *c == b';')
                .map(|p| start + p);
            let end = end.ok_or_else(|| self.err("unterminated extension"))?;
            extension.push((id, self.slice(start, end).to_string()));
            self.i = end + 1;
        }
        let fragments = self.fragments()?;
        let graph_def = self.graph_def()?;
        Ok(Document {
            version,
            extension,
            fragments,
            graph_def,
        })
    }

    fn fragments(&mut self) -> Res<Vec<FragmentDef>> {
        let mut out = Vec::new();
        while self.at_keyword("fragment") {
            let decl = self.fragment_decl()?;
            let body = if self.eat(";") {
                None
            } else {
                Some(self.body()?)
            };
            out.push(FragmentDef { decl, body });
        }
        Ok(out)
    }

    fn fragment_decl(&mut self) -> Res<FragmentDecl> {
        self.expect("fragment")?;
        let id = self.identifier()?;
        let mut generic_decl = None;
        if self.eat("<") {
            self.expect("?")?;
            let name = if self.eat("=") {
                Some(
                    self.type_name()
                        .ok_or_else(|| self.err("expected a type name"))?,
                )
            } else {
                None
            };
            self.expect(">")?;
            generic_decl = Some(name);
        }
        self.expect("(")?;
        let mut parameters = Vec::new();
        if !self.at(")") {
            loop {
                let pid = self.identifier()?;
                self.expect(":")?;
                let spec = self.type_spec()?;
                let lit = if self.eat("=") {
                    Some(self.literal_expr()?)
                } else {
                    None
                };
                parameters.push(Parameter {
                    id: pid,
                    spec,
                    lit,
                    doc: None,
                });
                if !self.eat(",") {
                    break;
                }
            }
        }
        self.expect(")")?;
        self.expect("->")?;
        self.expect("(")?;
        let mut results = Vec::new();
        if !self.at(")") {
            loop {
                let rid = self.identifier()?;
                self.expect(":")?;
                let spec = self.type_spec()?;
                results.push(Result_ { id: rid, spec });
                if !self.eat(",") {
                    break;
                }
            }
        }
        self.expect(")")?;
        Ok(FragmentDecl {
            id,
            generic_decl,
            parameters,
            results,
        })
    }

    fn identifier_list(&mut self) -> Res<Vec<Identifier>> {
        let mut ids = Vec::new();
        if !self.at(")") {
            loop {
                ids.push(self.identifier()?);
                if !self.eat(",") {
                    break;
                }
            }
        }
        Ok(ids)
    }

    fn graph_def(&mut self) -> Res<GraphDef> {
        self.expect("graph")?;
        let id = self.identifier()?;
        self.expect("(")?;
        let parameters = self.identifier_list()?;
        self.expect(")")?;
        self.expect("->")?;
        self.expect("(")?;
        let results = self.identifier_list()?;
        self.expect(")")?;
        let body = self.body()?;
        Ok(GraphDef {
            id,
            parameters,
            results,
            body,
        })
    }

    fn body(&mut self) -> Res<Vec<Assignment>> {
        self.expect("{")?;
        let mut out = Vec::new();
        while !self.eat("}") {
            let left = self.lvalue()?;
            self.expect("=")?;
            let right = self.rvalue()?;
            self.expect(";")?;
            out.push(Assignment { left, right });
        }
        Ok(out)
    }

    fn inner_lvalue(&mut self) -> Res<LValue> {
        for (open, close, array) in [("[", "]", true), ("(", ")", false)] {
            if self.eat(open) {
                let mut items = Vec::new();
                if !self.eat(close) {
                    loop {
                        items.push(self.inner_lvalue()?);
                        if self.eat(close) {
                            break;
                        }
                        self.expect(",")?;
                    }
                }
                return Ok(if array {
                    LValue::Array(items)
                } else {
                    LValue::Tuple(items)
                });
            }
        }
        Ok(LValue::Identifier(self.identifier()?))
    }

    fn lvalue(&mut self) -> Res<LValue> {
        let mut items = vec![self.inner_lvalue()?];
        while self.eat(",") {
            items.push(self.inner_lvalue()?);
        }
        Ok(if items.len() == 1 {
            items.remove(0)
        } else {
            LValue::Tuple(items)
        })
    }

    // ---- expressions

    fn rvalue(&mut self) -> Res<RValue> {
        let leftmost = self.in_for()?;
        self.ws();
        // tract looks for the bare prefix `if` here
        if self.rest().starts_with(b"if") {
            self.i += 2;
            let cond = self.in_for()?;
            self.expect("else")?;
            let otherwise = self.in_for()?;
            return Ok(RValue::IfThenElse(Box::new(IfThenElse {
                cond,
                then: leftmost,
                otherwise,
            })));
        }
        Ok(leftmost)
    }

    /// One left-associative precedence level: `operand (op operand)*`.
    fn binary(&mut self, ops: &[&str], operand: fn(&mut Self) -> Res<RValue>) -> Res<RValue> {
        let mut left = operand(self)?;
        'more: loop {
            for op in ops {
                let save = self.i;
                if self.eat(op) {
                    match operand(self) {
                        Ok(right) => {
                            left = RValue::Binary(Box::new(left), op.to_string(), Box::new(right));
                            continue 'more;
                        }
                        // tract's loop ends where an operator is not followed by an operand
                        Err(_) => {
                            self.i = save;
                            return Ok(left);
                        }
                    }
                }
            }
            return Ok(left);
        }
    }

    fn in_for(&mut self) -> Res<RValue> {
        self.binary(&["in"], Self::boolean)
    }

    fn boolean(&mut self) -> Res<RValue> {
        self.binary(&["||", "&&"], Self::comp)
    }

    fn comp(&mut self) -> Res<RValue> {
        self.binary(&["==", "!=", "<=", ">=", "<", ">"], Self::add)
    }

    fn add(&mut self) -> Res<RValue> {
        self.binary(&["+", "-"], Self::mul)
    }

    fn mul(&mut self) -> Res<RValue> {
        self.binary(&["*", "/"], Self::exp)
    }

    fn exp(&mut self) -> Res<RValue> {
        self.binary(&["^"], Self::sub)
    }

    fn sub(&mut self) -> Res<RValue> {
        let base = self.atom()?;
        let save = self.i;
        if self.eat("[") {
            let subscript = {
                let mark = self.i;
                // range: [a]:[b]
                let a = match self.rvalue() {
                    Ok(a) => Some(a),
                    Err(_) => {
                        self.i = mark;
                        None
                    }
                };
                if self.eat(":") {
                    let save_b = self.i;
                    let b = match self.rvalue() {
                        Ok(b) => Some(b),
                        Err(_) => {
                            self.i = save_b;
                            None
                        }
                    };
                    Some(Subscript::Range(a, b))
                } else {
                    self.i = mark;
                    self.rvalue().ok().map(Subscript::Single)
                }
            };
            if let Some(subscript) = subscript
                && self.eat("]")
            {
                return Ok(RValue::Subscript(Box::new(base), Box::new(subscript)));
            }
            self.i = save;
        }
        Ok(base)
    }

    fn atom(&mut self) -> Res<RValue> {
        self.ws();
        let start = self.i;
        // invocation: identifier [<type>] (arguments)
        if let Ok(id) = self.identifier() {
            let after_id = self.i;
            let mut generic_type_name = None;
            if self.eat("<") {
                match self.type_name() {
                    Some(t) if self.eat(">") => generic_type_name = Some(t),
                    _ => self.i = after_id,
                }
            }
            if self.eat("(") {
                let arguments = self.arguments()?;
                self.expect(")")?;
                return Ok(RValue::Invocation(Invocation {
                    id,
                    generic_type_name,
                    arguments,
                }));
            }
            self.i = start;
        }
        if let Some(l) = self.literal()? {
            return Ok(RValue::Literal(l));
        }
        if let Ok(id) = self.identifier() {
            return Ok(RValue::Identifier(id));
        }
        self.ws();
        if let Some(op @ (b'+' | b'-' | b'!')) = self.peek() {
            self.i += 1;
            let operand = self.rvalue()?;
            return Ok(RValue::Unary((op as char).to_string(), Box::new(operand)));
        }
        if self.eat("(") {
            let mut items = self.rvalue_list(")")?;
            return Ok(if items.len() == 1 {
                items.remove(0)
            } else {
                RValue::Tuple(items)
            });
        }
        if self.at("[") {
            let save = self.i;
            // as tract: `for` is matched as a prefix (its dumper writes `[ fori in ...`), and text
            // that is not a comprehension is read again as an array
            match self.comprehension() {
                Ok(c) => return Ok(RValue::Comprehension(Box::new(c))),
                Err(_) => self.i = save,
            }
            self.expect("[")?;
            return Ok(RValue::Array(self.rvalue_list("]")?));
        }
        Err(self.err("expected an expression"))
    }

    fn comprehension(&mut self) -> Res<Comprehension> {
        self.expect("[")?;
        self.expect("for")?;
        let mut loop_iters = Vec::new();
        loop {
            let id = self.identifier()?;
            self.expect("in")?;
            loop_iters.push((id, self.rvalue()?));
            if !self.eat(",") {
                break;
            }
        }
        self.expect("yield")?;
        let yields = self.rvalue()?;
        self.expect("]")?;
        Ok(Comprehension {
            loop_iters,
            filter: None,
            yields,
        })
    }

    /// `rvalue ("," rvalue)* close` or just `close`.
    fn rvalue_list(&mut self, close: &str) -> Res<Vec<RValue>> {
        let mut items = Vec::new();
        if self.eat(close) {
            return Ok(items);
        }
        loop {
            items.push(self.rvalue()?);
            if self.eat(close) {
                return Ok(items);
            }
            self.expect(",")?;
        }
    }

    fn arguments(&mut self) -> Res<Vec<Argument>> {
        let mut args = Vec::new();
        if self.at(")") {
            return Ok(args);
        }
        loop {
            // named: identifier "=" (as tract, `f(x == 1)` is refused)
            let save = self.i;
            let mut id = None;
            if let Ok(name) = self.identifier()
                && self.eat("=")
            {
                id = Some(name);
            } else {
                self.i = save;
            }
            let rvalue = self.rvalue()?;
            args.push(Argument { id, rvalue });
            if !self.eat(",") {
                return Ok(args);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn same(text: &str) {
        let ours = parse_document(text).expect("our parser");
        let theirs = tract_nnef::ast::parse::parse_document(text).expect("tract's parser");
        assert_eq!(ours, theirs, "{text}");
    }

    const HEAD: &str = "version 1.0;\nextension tract_registry tract_core;\n";

    fn graph(body: &str) -> String {
        format!("{HEAD}graph g(a) -> (b) {{\n{body}\n}}\n")
    }

    #[test]
    fn agrees_with_tract_on_expressions() {
        for body in [
            "b = a;",
            "b = conv(a, w, 0.0, padding = [(1, 1), (1, 1)], border = \"constant\");",
            "b = variable<scalar>(label = 'x.y', shape = [1, 2, 3]);",
            "b = [[[[127.5]]]];",
            "b = -1; c = -1.5e-3; d = 1e5; e = 2.; f = -inf; g = inf;",
            "b = - a; c = -a + 1; d = !true;",
            "b = a + 2 * 3 ^ 4 - 5 / 6;",
            "b = a[1]; c = a[1:]; d = a[:2]; e = a[1:2]; f = a[:];",
            "b = a if x < 2 else c;",
            "b = [for i in range_of(a) yield i * 2];",
            "b = [for i in range_of(o) yield (o[i] * s[i])];",
            "b = [ fori in range_of(o) yield o[i]]; c = [format, x];",
            "b = (a, c); c = (a); d = ();",
            "b, c = f(a); [d, e] = g(a); (x, y) = h(a);",
            "b = x == y; c = x != y; d = x <= y || z >= w && q > r;",
            "b = i\"weird name\"; c = f(i\"n\" = 1);",
            "# a comment\nb = a; # trailing\n",
            "b = f(x, y = 2);",
            "b = 'it\\'s';",
            "b = true; c = false;",
        ] {
            same(&graph(body));
        }
    }

    #[test]
    fn agrees_with_tract_on_fragments() {
        let text = format!(
            "{HEAD}fragment f<?=scalar>(x: tensor<?>, k: integer[] = [1, 2], t: (scalar, string) = (1.0, 'a'), s: logical = true) -> (y: tensor<scalar>[], z: (integer, tensor<scalar>)[])\n{{ y = [x]; z = [(1, x)]; }}\nfragment g(x: scalar) -> (y: scalar);\nfragment h() -> (p: (string, tensor<scalar>)[]) {{ p = [(\"a\", 1)]; }}\ngraph g(a) -> (b) {{ b = a; }}"
        );
        same(&text);
    }

    #[test]
    fn agrees_with_tract_on_its_standard_library() {
        let nnef = tract_nnef::nnef();
        let mut text = Vec::new();
        tract_nnef::ast::dump::Dumper::new(&nnef, &mut text)
            .fragments(&nnef.stdlib)
            .expect("dump");
        let text = String::from_utf8(text).expect("utf8");
        let ours = parse_fragments(&text)
            .unwrap_or_else(|e| panic!("{e}: {}", &text[e.at..(e.at + 100).min(text.len())]));
        let theirs = tract_nnef::ast::parse::parse_fragments(&text).expect("tract's parser");
        assert!(ours.len() > 50, "{} fragments", ours.len());
        assert_eq!(ours, theirs);
    }

    #[test]
    fn refuses_broken_text_with_a_position() {
        for (text, at_least) in [
            (graph("b = conv(a;"), HEAD.len()),
            (graph("b = 'open;"), HEAD.len()),
            (format!("{HEAD}graph g(a) -> (b) {{ b = a; "), HEAD.len()),
            ("version;".to_string(), 0),
            (format!("{}trailing", graph("b = a;")), HEAD.len()),
            (graph("b = f(x == 1);"), HEAD.len()),
        ] {
            let e = parse_document(&text).expect_err(&text);
            assert!(e.at >= at_least, "{e} for {text}");
            assert!(
                tract_nnef::ast::parse::parse_document(&text).is_err(),
                "tract accepts {text}"
            );
        }
    }
}
