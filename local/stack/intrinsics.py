"""Evaluate CloudFormation intrinsic functions the way a stack deployment would.

Covers what SAM templates commonly use: ``Ref``, ``Fn::Sub`` (both forms, ``${!Literal}``),
``Fn::GetAtt``, ``Fn::Join``, ``Fn::Select``, ``Fn::Split``, ``Fn::If`` with the condition functions,
``Fn::FindInMap`` and ``AWS::NoValue``. What a resource's ``Ref``/``GetAtt`` returns is not known here:
the caller passes two callables, so that naming rules stay in one place (``template.py``).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any, Final

_SUB_VARIABLE: Final = re.compile(r"\$\{([^}]*)\}")


class _NoValue:
    """``AWS::NoValue``: the property it stands in for is removed."""

    def __repr__(self) -> str:
        return "AWS::NoValue"


NO_VALUE: Final = _NoValue()


class TemplateError(ValueError):
    """The template asks for something that cannot be resolved."""


class Resolver:
    def __init__(
        self,
        template: Mapping[str, Any],
        values: Mapping[str, str],
        ref: Callable[[str], str],
        get_att: Callable[[str, str], str],
    ) -> None:
        """``values``: parameters and pseudo parameters by name; ``ref``/``get_att``: for resources."""
        self._template = template
        self._values = values
        self._ref = ref
        self._get_att = get_att
        self._conditions: dict[str, bool] = {}

    def resolve(self, value: Any) -> Any:
        if isinstance(value, dict):
            if len(value) == 1:
                (key, argument), *_ = value.items()
                handler = _FUNCTIONS.get(key)
                if handler is not None:
                    return handler(self, argument)
            resolved = {k: self.resolve(v) for k, v in value.items()}
            return {k: v for k, v in resolved.items() if v is not NO_VALUE}
        if isinstance(value, list):
            return [item for item in (self.resolve(v) for v in value) if item is not NO_VALUE]
        return value

    def text(self, value: Any) -> str:
        """A resolved scalar as the string CloudFormation would hand a property (numbers included)."""
        resolved = self.resolve(value)
        if isinstance(resolved, bool):
            return "true" if resolved else "false"
        if isinstance(resolved, dict | list):
            raise TemplateError(f"expected a scalar, got {resolved!r}")
        return str(resolved)

    def condition(self, name: str) -> bool:
        if name not in self._conditions:
            definitions = self._template.get("Conditions", {})
            if name not in definitions:
                raise TemplateError(f"unknown condition {name!r}")
            self._conditions[name] = bool(self.resolve(definitions[name]))
        return self._conditions[name]

    # --- the functions ----------------------------------------------------------------------------

    def _fn_ref(self, name: Any) -> Any:
        if name == "AWS::NoValue":
            return NO_VALUE
        if name in self._values:
            return self._values[name]
        if name in self._template.get("Resources", {}):
            return self._ref(name)
        raise TemplateError(f"Ref to unknown name {name!r}")

    def _fn_get_att(self, argument: Any) -> str:
        logical_id, attribute = self.resolve(argument)
        if logical_id not in self._template.get("Resources", {}):
            raise TemplateError(f"GetAtt of unknown resource {logical_id!r}")
        return self._get_att(str(logical_id), str(attribute))

    def _fn_sub(self, argument: Any) -> str:
        if isinstance(argument, list):
            text, variables = argument[0], {k: self.text(v) for k, v in argument[1].items()}
        else:
            text, variables = argument, {}

        def substitute(match: re.Match[str]) -> str:
            name = match.group(1).strip()
            if name.startswith("!"):
                return "${" + name[1:] + "}"  # ${!Literal} stays literal, without the "!"
            if name in variables:
                return variables[name]
            if "." in name and name.split(".", 1)[0] in self._template.get("Resources", {}):
                return self._fn_get_att(name.split(".", 1))
            return self.text({"Ref": name})

        return _SUB_VARIABLE.sub(substitute, str(text))

    def _fn_join(self, argument: Any) -> str:
        delimiter, items = argument
        return str(delimiter).join(self.text(item) for item in self.resolve(items))

    def _fn_select(self, argument: Any) -> Any:
        index, items = self.resolve(argument)
        return items[int(index)]

    def _fn_split(self, argument: Any) -> list[str]:
        delimiter, text = argument
        return self.text(text).split(str(delimiter))

    def _fn_if(self, argument: Any) -> Any:
        name, when_true, when_false = argument
        return self.resolve(when_true if self.condition(name) else when_false)

    def _fn_equals(self, argument: Any) -> bool:
        left, right = (self.text(item) for item in argument)
        return left == right

    def _fn_not(self, argument: Any) -> bool:
        return not self.resolve(argument[0])

    def _fn_and(self, argument: Any) -> bool:
        return all(self.resolve(item) for item in argument)

    def _fn_or(self, argument: Any) -> bool:
        return any(self.resolve(item) for item in argument)

    def _fn_condition(self, name: Any) -> bool:
        return self.condition(str(name))

    def _fn_find_in_map(self, argument: Any) -> Any:
        map_name, top, second = (self.text(item) for item in argument[:3])
        try:
            return self._template["Mappings"][map_name][top][second]
        except KeyError:
            raise TemplateError(f"FindInMap: no {map_name}/{top}/{second}") from None


_FUNCTIONS: Final[Mapping[str, Callable[[Resolver, Any], Any]]] = {
    "Ref": Resolver._fn_ref,
    "Fn::GetAtt": Resolver._fn_get_att,
    "Fn::Sub": Resolver._fn_sub,
    "Fn::Join": Resolver._fn_join,
    "Fn::Select": Resolver._fn_select,
    "Fn::Split": Resolver._fn_split,
    "Fn::If": Resolver._fn_if,
    "Fn::Equals": Resolver._fn_equals,
    "Fn::Not": Resolver._fn_not,
    "Fn::And": Resolver._fn_and,
    "Fn::Or": Resolver._fn_or,
    "Condition": Resolver._fn_condition,
    "Fn::FindInMap": Resolver._fn_find_in_map,
}
