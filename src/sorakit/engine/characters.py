"""Characters, owned like videos: the ledger keeps the key that made each one.

Only that key (or a caller that sees everything: the library, the CLI, an open gateway, the
admin key) may look a character up or cast it in a video. To anyone else it does not exist: the
answer is the very one an unknown id gets, so ids cannot be probed.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from sorakit.catalog import Catalog
from sorakit.errors import InvalidRequestError, NotFoundError
from sorakit.ids import is_safe_id
from sorakit.ledger import Ledger
from sorakit.ledger.characters import CharacterRecord
from sorakit.providers.base import Character, Provider, SourceVideo
from sorakit.providers.registry import ProviderPool

if TYPE_CHECKING:
    from sorakit.engine.engine import Owner

CHARACTER_MODEL = "sora-2"
"""Characters are made at the provider that serves this model."""


def not_found(character_id: str, param: str = "character_id") -> NotFoundError:
    """The one answer for a character that does not exist or is not the caller's."""
    return NotFoundError(f"No character found with id '{character_id}'.", param=param)


def sees_all(owner: Owner | None) -> bool:
    return owner is None or owner.sees_all


class Characters:
    """Makes characters at the provider and keeps their owners in the ledger."""

    def __init__(self, ledger: Ledger, providers: ProviderPool, catalog: Catalog) -> None:
        self.ledger = ledger
        self.providers = providers
        self.catalog = catalog

    async def create(
        self,
        name: str,
        video: SourceVideo,
        *,
        owner: Owner | None = None,
        client_key: str | None = None,
    ) -> Character:
        """Make a character, owned by `owner`; a repeated `client_key` returns the first one."""
        if not name.strip() or len(name) > 80:
            raise InvalidRequestError("'name' must be 1 to 80 characters long.", param="name")
        if client_key and (existing := await self.ledger.character_by_client_key(client_key)):
            return _character(existing)
        provider_name = self.catalog.resolve(CHARACTER_MODEL).provider
        made = await self.providers.get(provider_name).create_character(name, video)
        record = await self.ledger.add_character(
            CharacterRecord(
                id=made.id,
                name=made.name,
                provider=provider_name,
                owner=owner.key_id if owner else None,
                client_key=client_key or None,
                created_at=made.created_at,
            )
        )
        return _character(record)

    async def get(
        self, character_id: str, *, owner: Owner | None = None, param: str = "character_id"
    ) -> Character:
        """A character the caller may use, else the same `NotFoundError` as an unknown id."""
        record = await self._usable(character_id, owner, param)
        if record is not None:
            return _character(record)
        try:  # one made outside sorakit, or before the ledger kept characters
            return await self._default_provider().retrieve_character(character_id)
        except NotFoundError:
            raise not_found(character_id, param) from None

    async def check_cast(self, character_ids: Sequence[str], owner: Owner | None) -> None:
        """Refuse a video that casts a character the caller may not use."""
        for character_id in character_ids:
            await self._usable(character_id, owner, "characters")

    async def _usable(
        self, character_id: str, owner: Owner | None, param: str
    ) -> CharacterRecord | None:
        """The caller's character; None when the ledger has none but the caller sees all."""
        if not is_safe_id(character_id):  # checked before it names a file or a row
            raise not_found(character_id[:200], param)
        record = await self.ledger.get_character(character_id)
        if sees_all(owner):
            return record
        if record is None or owner is None or record.owner != owner.key_id:
            raise not_found(character_id, param)
        return record

    def _default_provider(self) -> Provider:
        return self.providers.get(self.catalog.resolve(CHARACTER_MODEL).provider)


def _character(record: CharacterRecord) -> Character:
    return Character(id=record.id, name=record.name, created_at=record.created_at)
