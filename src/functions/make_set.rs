//! `make_set(x [, max_size])`: Kusto's `make_set`, a list of the distinct values of `x` in a
//! group. Nulls are skipped; `""` is an ordinary value and is kept; a group with no values gives
//! `[]`; at most `max_size` elements (default and ceiling 1,048,576, Kusto's limit), the first
//! ones seen being kept. Elements come out sorted ascending so that results are reproducible
//! (Kusto leaves the order undefined).
//!
//! Strings of any layout give `List<Utf8>`; any other type (integers, timestamps, ...) gives a
//! list of that type, the values being held in Arrow's order-preserving row format.
//!
//! The [`GroupsAccumulator`] keeps every group's set in one hash table of (group, value) members
//! and one byte arena, with a linked list of members per group: no allocation per group, which
//! is what keeps millions of groups fast.
//!
//! The same store serves Kusto's relatives of `make_set` (see [`Kind`]):
//! - `make_set_if(x, cond [, max_size])`: only rows where `cond` is true (false or null: skipped).
//! - `make_list(x [, max_size])` / `make_list_if(x, cond [, max_size])`: every non-null value,
//!   duplicates kept, in arrival order within a group (see [`Kind::List`] for what DataFusion's
//!   parallel aggregation does to that order).
//! - `dcount(x [, accuracy])`: the number of distinct non-null values, exactly (Kusto estimates
//!   it with HyperLogLog; `accuracy` is accepted and ignored).

use std::hash::BuildHasher;
use std::sync::Arc;

use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, GenericListArray, Int64Array, ListArray, StringBuilder,
    UInt32Array,
};
use datafusion::arrow::buffer::OffsetBuffer;
use datafusion::arrow::compute::{cast, take};
use datafusion::arrow::datatypes::{DataType, Field, FieldRef};
use datafusion::arrow::row::{RowConverter, SortField};
use datafusion::common::{Result, ScalarValue, exec_err, plan_err};
use datafusion::logical_expr::function::{AccumulatorArgs, StateFieldsArgs};
use datafusion::logical_expr::utils::format_state_name;
use datafusion::logical_expr::{
    Accumulator, AggregateUDFImpl, EmitTo, GroupsAccumulator, Signature, Volatility,
};
use datafusion::physical_expr::expressions::Literal;
use hashbrown::HashTable;

use super::kernels::is_string_type;

/// Kusto's default and largest `maxSize`.
pub const MAX_SET_SIZE: usize = 1_048_576;

const NONE: u32 = u32::MAX;

/// Which of the `make_set` family an aggregate is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    /// `make_set(x [, max_size])`.
    Set,
    /// `make_set_if(x, cond [, max_size])`.
    SetIf,
    /// `make_list(x [, max_size])`: duplicates kept. Within one input partition the elements
    /// keep their arrival order; DataFusion aggregates partitions in parallel and appends their
    /// partial lists in the order they reach the final step, so with more than one partition
    /// the order across partitions is not the input order (Kusto does not promise one either).
    List,
    /// `make_list_if(x, cond [, max_size])`.
    ListIf,
    /// `dcount(x [, accuracy])`: exact count of distinct non-null values.
    Dcount,
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Kind::Set => "make_set",
            Kind::SetIf => "make_set_if",
            Kind::List => "make_list",
            Kind::ListIf => "make_list_if",
            Kind::Dcount => "dcount",
        }
    }
    fn conditional(self) -> bool {
        matches!(self, Kind::SetIf | Kind::ListIf)
    }
    fn distinct(self) -> bool {
        !matches!(self, Kind::List | Kind::ListIf)
    }
    /// The position of the `max_size` argument, if the function has one.
    fn cap_position(self) -> Option<usize> {
        match self {
            Kind::Set | Kind::List => Some(1),
            Kind::SetIf | Kind::ListIf => Some(2),
            Kind::Dcount => None,
        }
    }
    fn usage(self) -> &'static str {
        match self {
            Kind::Set => "make_set takes (x) or (x, max_size)",
            Kind::SetIf => "make_set_if takes (x, cond) or (x, cond, max_size)",
            Kind::List => "make_list takes (x) or (x, max_size)",
            Kind::ListIf => "make_list_if takes (x, cond) or (x, cond, max_size)",
            Kind::Dcount => "dcount takes (x) or (x, accuracy)",
        }
    }
}

#[derive(Debug, PartialEq, Eq, Hash)]
pub struct MakeSet {
    kind: Kind,
    signature: Signature,
}

impl Default for MakeSet {
    fn default() -> Self {
        Self::new(Kind::Set)
    }
}

impl MakeSet {
    pub fn new(kind: Kind) -> Self {
        Self {
            kind,
            signature: Signature::variadic_any(Volatility::Immutable),
        }
    }
}

/// The element type of the result list for an input of `input` type.
fn element_type(input: &DataType) -> DataType {
    if is_string_type(input) {
        DataType::Utf8
    } else {
        input.clone()
    }
}

/// [`element_type`], with an all-null input read as strings.
fn element_of_input(input: &DataType) -> DataType {
    if *input == DataType::Null {
        DataType::Utf8
    } else {
        element_type(input)
    }
}

fn list_of(element: DataType) -> DataType {
    DataType::List(Arc::new(Field::new_list_field(element, true)))
}

impl AggregateUDFImpl for MakeSet {
    fn name(&self) -> &str {
        self.kind.name()
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        let name = self.kind.name();
        let fixed = if self.kind.conditional() { 2 } else { 1 };
        if arg_types.len() != fixed && arg_types.len() != fixed + 1 {
            return plan_err!("{}", self.kind.usage());
        }
        let input = &arg_types[0];
        if matches!(
            input,
            DataType::List(_) | DataType::LargeList(_) | DataType::Struct(_)
        ) {
            return plan_err!("{name}: nested values ({input}) are not supported");
        }
        if self.kind.conditional() && !matches!(arg_types[1], DataType::Boolean | DataType::Null) {
            return plan_err!(
                "{name}(x, cond, ...): cond must be a boolean, got {}",
                arg_types[1]
            );
        }
        if arg_types.len() == fixed + 1 && !arg_types[fixed].is_integer() {
            let what = if self.kind == Kind::Dcount {
                "accuracy"
            } else {
                "max_size"
            };
            return plan_err!(
                "{name}: {what} must be an integer, got {}",
                arg_types[fixed]
            );
        }
        if self.kind == Kind::Dcount {
            return Ok(DataType::Int64);
        }
        Ok(list_of(element_of_input(input)))
    }
    fn is_nullable(&self) -> bool {
        false
    }
    fn state_fields(&self, args: StateFieldsArgs) -> Result<Vec<FieldRef>> {
        let input = args
            .input_fields
            .first()
            .map(|f| f.data_type().clone())
            .unwrap_or(DataType::Utf8);
        Ok(vec![Arc::new(Field::new(
            format_state_name(args.name, self.kind.name()),
            list_of(element_of_input(&input)),
            true,
        ))])
    }
    fn accumulator(&self, args: AccumulatorArgs) -> Result<Box<dyn Accumulator>> {
        Ok(Box::new(MakeSetAccumulator {
            kind: self.kind,
            sets: SetStore::try_new(&args, self.kind)?,
        }))
    }
    fn groups_accumulator_supported(&self, _args: AccumulatorArgs) -> bool {
        true
    }
    fn create_groups_accumulator(
        &self,
        args: AccumulatorArgs,
    ) -> Result<Box<dyn GroupsAccumulator>> {
        Ok(Box::new(MakeSetGroups {
            kind: self.kind,
            sets: SetStore::try_new(&args, self.kind)?,
        }))
    }
    fn default_value(&self, data_type: &DataType) -> Result<ScalarValue> {
        ScalarValue::new_default(data_type)
    }
}

/// A string `make_set` groups accumulator with the given cap, for benchmarks and embedders
/// that drive aggregation themselves.
pub fn string_groups_accumulator(max_size: usize) -> Box<dyn GroupsAccumulator> {
    Box::new(MakeSetGroups {
        kind: Kind::Set,
        sets: SetStore::new(
            Encoding::Utf8,
            DataType::Utf8,
            max_size.clamp(1, MAX_SET_SIZE),
            true,
        ),
    })
}

/// Reads `max_size` from its argument, which must be a constant.
fn max_size(args: &AccumulatorArgs, kind: Kind) -> Result<usize> {
    let Some(position) = kind.cap_position() else {
        return Ok(usize::MAX);
    };
    let name = kind.name();
    let Some(expr) = args.exprs.get(position) else {
        return Ok(MAX_SET_SIZE);
    };
    let Some(literal) = expr.as_ref().downcast_ref::<Literal>() else {
        return plan_err!("{name}: max_size must be a constant");
    };
    let value = match literal.value().cast_to(&DataType::Int64)? {
        ScalarValue::Int64(Some(v)) => v,
        _ => return plan_err!("{name}: max_size must not be null"),
    };
    if value < 1 {
        return plan_err!("{name}: max_size must be at least 1, got {value}");
    }
    Ok((value as u64).min(MAX_SET_SIZE as u64) as usize)
}

/// How values are turned into bytes for hashing and back into an Arrow array.
enum Encoding {
    /// Strings: the UTF-8 bytes themselves.
    Utf8,
    /// Anything else: Arrow's row format, which round-trips and sorts like the type.
    Rows(RowConverter),
}

#[derive(Clone, Copy)]
struct Member {
    hash: u64,
    group: u32,
    next: u32,
    start: usize,
    len: u32,
}

/// The sets of every group: members (group, value) deduplicated through one hash table.
struct SetStore {
    encoding: Encoding,
    element: DataType,
    max_size: usize,
    /// False for lists: every value is appended, the hash table stays empty.
    distinct: bool,
    hasher: foldhash::fast::FixedState,
    table: HashTable<u32>,
    members: Vec<Member>,
    arena: Vec<u8>,
    head: Vec<u32>,
    tail: Vec<u32>,
    count: Vec<u32>,
}

impl SetStore {
    fn try_new(args: &AccumulatorArgs, kind: Kind) -> Result<Self> {
        let input = args
            .expr_fields
            .first()
            .map(|f| f.data_type().clone())
            .unwrap_or(DataType::Utf8);
        let element = element_of_input(&input);
        let encoding =
            if element == DataType::Utf8 && (is_string_type(&input) || input == DataType::Null) {
                Encoding::Utf8
            } else {
                Encoding::Rows(RowConverter::new(vec![SortField::new(element.clone())])?)
            };
        Ok(Self::new(
            encoding,
            element,
            max_size(args, kind)?,
            kind.distinct(),
        ))
    }

    fn new(encoding: Encoding, element: DataType, max_size: usize, distinct: bool) -> Self {
        Self {
            encoding,
            element,
            max_size,
            distinct,
            hasher: foldhash::fast::FixedState::with_seed(0x6875_6e74),
            table: HashTable::new(),
            members: Vec::new(),
            arena: Vec::new(),
            head: Vec::new(),
            tail: Vec::new(),
            count: Vec::new(),
        }
    }

    /// An empty store with the same encoding and limits.
    fn fresh(&self) -> Result<Self> {
        let encoding = match &self.encoding {
            Encoding::Utf8 => Encoding::Utf8,
            Encoding::Rows(_) => Encoding::Rows(RowConverter::new(vec![SortField::new(
                self.element.clone(),
            )])?),
        };
        Ok(Self::new(
            encoding,
            self.element.clone(),
            self.max_size,
            self.distinct,
        ))
    }

    fn ensure_groups(&mut self, total: usize) {
        if self.head.len() < total {
            self.head.resize(total, NONE);
            self.tail.resize(total, NONE);
            self.count.resize(total, 0);
        }
    }

    fn bytes(&self, m: &Member) -> &[u8] {
        &self.arena[m.start..m.start + m.len as usize]
    }

    fn insert(&mut self, group: usize, value: &[u8]) {
        if self.count[group] as usize >= self.max_size {
            return;
        }
        let group32 = group as u32;
        let hash = if self.distinct {
            let hash = self.hasher.hash_one((group32, value));
            let members = &self.members;
            let arena = &self.arena;
            let found = self.table.find(hash, |&id| {
                let m = &members[id as usize];
                m.group == group32 && &arena[m.start..m.start + m.len as usize] == value
            });
            if found.is_some() {
                return;
            }
            hash
        } else {
            0
        };
        let id = self.members.len() as u32;
        self.members.push(Member {
            hash,
            group: group32,
            next: NONE,
            start: self.arena.len(),
            len: value.len() as u32,
        });
        self.arena.extend_from_slice(value);
        if self.distinct {
            let members = &self.members;
            self.table
                .insert_unique(hash, id, |&i| members[i as usize].hash);
        }
        match self.tail[group] {
            NONE => self.head[group] = id,
            last => self.members[last as usize].next = id,
        }
        self.tail[group] = id;
        self.count[group] += 1;
    }

    /// Adds the non-null values of `values` (selected by `filter`) to their groups.
    fn update(
        &mut self,
        values: &ArrayRef,
        group_indices: &[usize],
        filter: Option<&BooleanArray>,
        total_num_groups: usize,
    ) -> Result<()> {
        self.ensure_groups(total_num_groups);
        let selected = |row: usize| filter.is_none_or(|f| f.is_valid(row) && f.value(row));
        let encoded = match &self.encoding {
            Encoding::Rows(converter) => {
                let values = cast(values, &self.element)?;
                let rows = converter.convert_columns(&[Arc::clone(&values)])?;
                Some((values, rows))
            }
            Encoding::Utf8 => None,
        };
        if let Some((values, rows)) = encoded {
            for (row, &group) in group_indices.iter().enumerate() {
                if values.is_valid(row) && selected(row) {
                    self.insert(group, rows.row(row).as_ref());
                }
            }
            return Ok(());
        }
        match as_utf8_like(values)? {
            StringsRef::Utf8(a) => {
                for (row, &group) in group_indices.iter().enumerate() {
                    if a.is_valid(row) && selected(row) {
                        self.insert(group, a.value(row).as_bytes());
                    }
                }
            }
            StringsRef::Large(a) => {
                for (row, &group) in group_indices.iter().enumerate() {
                    if a.is_valid(row) && selected(row) {
                        self.insert(group, a.value(row).as_bytes());
                    }
                }
            }
            StringsRef::View(a) => {
                for (row, &group) in group_indices.iter().enumerate() {
                    if a.is_valid(row) && selected(row) {
                        self.insert(group, a.value(row).as_bytes());
                    }
                }
            }
        }
        Ok(())
    }

    /// Adds every element of each row's list (an earlier state) to the row's group.
    fn merge(&mut self, states: &ArrayRef, group_indices: &[usize], total: usize) -> Result<()> {
        self.ensure_groups(total);
        let lists = states.as_list::<i32>();
        let offsets = lists.value_offsets();
        let mut element_groups = Vec::with_capacity(lists.values().len());
        let mut element_rows = Vec::with_capacity(lists.values().len());
        for (row, &group) in group_indices.iter().enumerate() {
            if lists.is_null(row) {
                continue;
            }
            for element in offsets[row] as usize..offsets[row + 1] as usize {
                element_groups.push(group);
                element_rows.push(element as u32);
            }
        }
        let elements = take(
            lists.values().as_ref(),
            &UInt32Array::from(element_rows),
            None,
        )?;
        self.update(&elements, &element_groups, None, total)
    }

    /// The sets of groups `0..n` as a list array (sorted if `sorted`), keeping the rest with
    /// their indexes shifted down by `n`.
    fn emit(&mut self, emit_to: EmitTo, sorted: bool) -> Result<ArrayRef> {
        let n = match emit_to {
            EmitTo::All => self.head.len(),
            EmitTo::First(n) => n.min(self.head.len()),
        };
        let mut offsets = Vec::with_capacity(n + 1);
        offsets.push(0i32);
        let mut order: Vec<u32> = Vec::new();
        let mut group_members: Vec<u32> = Vec::new();
        for group in 0..n {
            group_members.clear();
            let mut id = self.head[group];
            while id != NONE {
                group_members.push(id);
                id = self.members[id as usize].next;
            }
            if sorted {
                group_members.sort_unstable_by(|&a, &b| {
                    self.bytes(&self.members[a as usize])
                        .cmp(self.bytes(&self.members[b as usize]))
                });
            }
            order.extend_from_slice(&group_members);
            offsets.push(order.len() as i32);
        }
        let values: ArrayRef = match &self.encoding {
            Encoding::Utf8 => {
                let total_bytes = order
                    .iter()
                    .map(|&id| self.members[id as usize].len as usize)
                    .sum();
                let mut builder = StringBuilder::with_capacity(order.len(), total_bytes);
                for &id in &order {
                    let bytes = self.bytes(&self.members[id as usize]);
                    // String arrays are UTF-8, except when a Parquet writer's raw bytes were
                    // read as strings unchecked (the lake's views check them; raw tables not).
                    match std::str::from_utf8(bytes) {
                        Ok(text) => builder.append_value(text),
                        Err(_) => {
                            return exec_err!(
                                "make_set: a value holds {}",
                                super::utf8_check::NOT_UTF8
                            );
                        }
                    }
                }
                Arc::new(builder.finish())
            }
            Encoding::Rows(converter) => {
                let parser = converter.parser();
                let rows = order
                    .iter()
                    .map(|&id| parser.parse(self.bytes(&self.members[id as usize])));
                converter.convert_rows(rows)?.remove(0)
            }
        };
        let list = GenericListArray::<i32>::try_new(
            Arc::new(Field::new_list_field(self.element.clone(), true)),
            OffsetBuffer::new(offsets.into()),
            values,
            None,
        )?;
        self.keep_groups_from(n)?;
        Ok(Arc::new(list))
    }

    /// The number of elements of groups `0..n`, keeping the rest as [`Self::emit`] does.
    fn emit_counts(&mut self, emit_to: EmitTo) -> Result<ArrayRef> {
        let n = match emit_to {
            EmitTo::All => self.head.len(),
            EmitTo::First(n) => n.min(self.head.len()),
        };
        let counts: Int64Array = self.count[..n].iter().map(|&c| Some(c as i64)).collect();
        self.keep_groups_from(n)?;
        Ok(Arc::new(counts))
    }

    /// Drops groups `0..n` and renumbers the others from 0.
    fn keep_groups_from(&mut self, n: usize) -> Result<()> {
        let mut rest = self.fresh()?;
        let total = self.head.len();
        rest.ensure_groups(total - n);
        for group in n..total {
            let mut id = self.head[group];
            while id != NONE {
                let m = self.members[id as usize];
                rest.insert(group - n, self.bytes(&m));
                id = m.next;
            }
        }
        *self = rest;
        Ok(())
    }

    fn size(&self) -> usize {
        self.table.capacity() * (size_of::<u32>() + 1)
            + self.members.capacity() * size_of::<Member>()
            + self.arena.capacity()
            + (self.head.capacity() + self.tail.capacity() + self.count.capacity())
                * size_of::<u32>()
    }
}

enum StringsRef<'a> {
    Utf8(&'a datafusion::arrow::array::StringArray),
    Large(&'a datafusion::arrow::array::LargeStringArray),
    View(&'a datafusion::arrow::array::StringViewArray),
}

/// Borrows a string array; dictionaries and null arrays are first cast to Utf8.
fn as_utf8_like(values: &ArrayRef) -> Result<StringsRef<'_>> {
    match values.data_type() {
        DataType::Utf8 => Ok(StringsRef::Utf8(values.as_string::<i32>())),
        DataType::LargeUtf8 => Ok(StringsRef::Large(values.as_string::<i64>())),
        DataType::Utf8View => Ok(StringsRef::View(values.as_string_view())),
        other => exec_err!("make_set: expected strings, got {other}"),
    }
}

/// Casts dictionary-encoded or all-null input to plain strings.
fn normalize_strings(values: &ArrayRef) -> Result<ArrayRef> {
    match values.data_type() {
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => Ok(Arc::clone(values)),
        _ => Ok(cast(values, &DataType::Utf8)?),
    }
}

fn prepare(store: &SetStore, values: &ArrayRef) -> Result<ArrayRef> {
    match store.encoding {
        Encoding::Utf8 => normalize_strings(values),
        Encoding::Rows(_) => Ok(Arc::clone(values)),
    }
}

/// For the `_if` kinds: the rows where `cond` is true and the filter (if any) selects them.
fn selection(
    kind: Kind,
    values: &[ArrayRef],
    opt_filter: Option<&BooleanArray>,
) -> Result<Option<BooleanArray>> {
    if !kind.conditional() {
        return Ok(opt_filter.cloned());
    }
    let Some(cond) = values.get(1) else {
        return exec_err!("{}", kind.usage());
    };
    let cond = cast(cond, &DataType::Boolean)?;
    let cond = cond.as_boolean();
    Ok(Some(
        (0..cond.len())
            .map(|row| {
                Some(
                    cond.is_valid(row)
                        && cond.value(row)
                        && opt_filter.is_none_or(|f| f.is_valid(row) && f.value(row)),
                )
            })
            .collect(),
    ))
}

struct MakeSetGroups {
    kind: Kind,
    sets: SetStore,
}

impl GroupsAccumulator for MakeSetGroups {
    fn update_batch(
        &mut self,
        values: &[ArrayRef],
        group_indices: &[usize],
        opt_filter: Option<&BooleanArray>,
        total_num_groups: usize,
    ) -> Result<()> {
        let filter = selection(self.kind, values, opt_filter)?;
        let values = prepare(&self.sets, &values[0])?;
        self.sets
            .update(&values, group_indices, filter.as_ref(), total_num_groups)
    }

    fn evaluate(&mut self, emit_to: EmitTo) -> Result<ArrayRef> {
        match self.kind {
            Kind::Set | Kind::SetIf => self.sets.emit(emit_to, true),
            Kind::List | Kind::ListIf => self.sets.emit(emit_to, false),
            Kind::Dcount => self.sets.emit_counts(emit_to),
        }
    }

    fn state(&mut self, emit_to: EmitTo) -> Result<Vec<ArrayRef>> {
        Ok(vec![self.sets.emit(emit_to, false)?])
    }

    fn merge_batch(
        &mut self,
        values: &[ArrayRef],
        group_indices: &[usize],
        total_num_groups: usize,
    ) -> Result<()> {
        self.sets.merge(&values[0], group_indices, total_num_groups)
    }

    fn convert_to_state(
        &self,
        values: &[ArrayRef],
        opt_filter: Option<&BooleanArray>,
    ) -> Result<Vec<ArrayRef>> {
        // Each row becomes its own one-element set, or an empty one when null or filtered out.
        let filter = selection(self.kind, values, opt_filter)?;
        let opt_filter = filter.as_ref();
        let values = prepare(&self.sets, &values[0])?;
        let values = cast(&values, &self.sets.element)?;
        let mut offsets = Vec::with_capacity(values.len() + 1);
        offsets.push(0i32);
        let mut kept = Vec::with_capacity(values.len());
        for row in 0..values.len() {
            let selected = opt_filter.is_none_or(|f| f.is_valid(row) && f.value(row));
            if values.is_valid(row) && selected {
                kept.push(row as u32);
            }
            offsets.push(kept.len() as i32);
        }
        let elements = take(values.as_ref(), &UInt32Array::from(kept), None)?;
        let list = ListArray::try_new(
            Arc::new(Field::new_list_field(self.sets.element.clone(), true)),
            OffsetBuffer::new(offsets.into()),
            elements,
            None,
        )?;
        Ok(vec![Arc::new(list)])
    }

    fn size(&self) -> usize {
        self.sets.size()
    }
}

/// The one-group accumulator DataFusion uses without GROUP BY and in window functions.
struct MakeSetAccumulator {
    kind: Kind,
    sets: SetStore,
}

impl std::fmt::Debug for MakeSetAccumulator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MakeSetAccumulator").finish_non_exhaustive()
    }
}

impl MakeSetAccumulator {
    fn current(&mut self, sorted: bool) -> Result<ScalarValue> {
        self.sets.ensure_groups(1);
        // Emitting renumbers the store; put the set back so the accumulator can go on.
        let list = self.sets.emit(EmitTo::All, sorted)?;
        self.sets.merge(&list, &[0], 1)?;
        ScalarValue::try_from_array(&list, 0)
    }
}

impl Accumulator for MakeSetAccumulator {
    fn update_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        let filter = selection(self.kind, values, None)?;
        let values = prepare(&self.sets, &values[0])?;
        let groups = vec![0; values.len()];
        self.sets.update(&values, &groups, filter.as_ref(), 1)
    }

    fn evaluate(&mut self) -> Result<ScalarValue> {
        match self.kind {
            Kind::Set | Kind::SetIf => self.current(true),
            Kind::List | Kind::ListIf => self.current(false),
            Kind::Dcount => {
                self.sets.ensure_groups(1);
                Ok(ScalarValue::Int64(Some(self.sets.count[0] as i64)))
            }
        }
    }

    fn size(&self) -> usize {
        size_of_val(self) + self.sets.size()
    }

    fn state(&mut self) -> Result<Vec<ScalarValue>> {
        Ok(vec![self.current(false)?])
    }

    fn merge_batch(&mut self, states: &[ArrayRef]) -> Result<()> {
        let groups = vec![0; states[0].len()];
        self.sets.merge(&states[0], &groups, 1)
    }
}
